"""#16  RS -> SQL Server  ·  TCP 1433  ·  egress
RS connection to its database (gvp_rs)."""

from gvpconf.suite import connection, probe

pytestmark = connection(16)


@probe("mssql.prelogin")
def test_server_answers_prelogin(evidence):
    """A TDS PRELOGIN (no credentials): the server's version and encryption option, as the inventory requires."""
    assert evidence["mssql.encryption"] in ("OFF", "ON", "NOT_SUP", "REQ")


@probe("mssql.login")
def test_reader_login_and_read_only_query(evidence):
    """Login with the reader account; SELECT @@VERSION, DB_NAME() lands in the configured database."""
    assert "SQL Server" in evidence["mssql.product"]
