"""#16  RS -> SQL Server  ·  TCP 1433  ·  egress
RS connection to its database (gvp_rs)."""

from gvpconf.suite import at_least, connection, probe

pytestmark = connection(16)


@probe("mssql.prelogin")
def test_server_answers_prelogin(evidence, expect):
    """A TDS PRELOGIN (no credentials) answered with the server's version and an encryption option the inventory
    allows."""
    assert evidence["mssql.encryption"] in ("ON", "REQ") or not expect.require_encryption
    assert at_least(evidence["mssql.version"], expect.min_version)


@probe("mssql.login")
def test_reader_login_and_read_only_query(evidence, expect):
    """Login with the reader account; SELECT @@VERSION, DB_NAME() lands in the configured database."""
    assert "SQL Server" in evidence["mssql.product"]
    assert evidence["mssql.database"] == expect.database
