"""#17  GVP Config Server -> PostgreSQL  ·  TCP 5432  ·  egress
GVP Config Server connection to database."""

from gvpconf.suite import connection, probe

pytestmark = connection(17)


@probe("postgres.sslrequest")
def test_server_answers_sslrequest(evidence):
    """A PostgreSQL server answers the SSLRequest; it offers TLS whenever the inventory's sslmode needs it."""
    assert evidence["postgres.ssl_offered"] or evidence["postgres.sslmode"] in ("disable", "allow", "prefer")


@probe("postgres.login")
def test_login_and_read_only_query(evidence, expect):
    """Login with the configured account and sslmode; SELECT version() in the configured database, a version at
    least the inventory's minimum (GVP needs PostgreSQL 11+)."""
    assert evidence["postgres.database"] == expect.database
    assert evidence["postgres.version_num"] >= expect.min_version_num()
