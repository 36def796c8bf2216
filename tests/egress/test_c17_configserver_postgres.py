"""#17  GVP Config Server -> PostgreSQL  ·  TCP 5432  ·  egress
GVP Config Server connection to database."""

from gvpconf.suite import connection, probe

pytestmark = connection(17)


@probe("postgres.sslrequest")
def test_server_answers_sslrequest(evidence):
    """A PostgreSQL server answers the SSLRequest with 'S' or 'N', as the inventory's sslmode requires."""
    assert isinstance(evidence["postgres.ssl_offered"], bool)


@probe("postgres.login")
def test_login_and_read_only_query(evidence):
    """Login with the configured account and sslmode; SELECT version() in the configured database."""
    assert evidence["postgres.version_num"] >= 110000  # GVP needs PostgreSQL 11+
