"""The PostgreSQL probe's one place that maps libpq's errors to causes (``gvpconf.probes.postgres.translate``).

The messages are libpq's own, as PostgreSQL 15 sent them to the fault catalog (``make faults``): a pg_hba.conf
``reject`` line for the Config Server pod was reported as ``tls`` (its message ends "SSL encryption") and a
user without CONNECT as ``semantic``; both are the server refusing this client: ``auth``.
"""

from __future__ import annotations

import psycopg
import pytest

from gvpconf.errors import Cause
from gvpconf.probes.postgres import translate

HEAD = 'connection failed: connection to server at "198.18.0.19", port 5432 failed: '


@pytest.mark.parametrize(("fatal", "cause"), [
    ('FATAL:  pg_hba.conf rejects connection for host "198.18.0.16", user "gvp_reader", database "gvp", '
     "SSL encryption", Cause.AUTH),
    ('FATAL:  permission denied for database "gvp"', Cause.AUTH),
    ('FATAL:  no pg_hba.conf entry for host "198.18.0.16", user "gvp_reader", database "gvp", SSL encryption',
     Cause.AUTH),
    ('FATAL:  password authentication failed for user "gvp_reader"', Cause.AUTH),
    ('FATAL:  database "gvp" does not exist', Cause.SEMANTIC),
    ("SSL error: certificate verify failed", Cause.TLS),
    ("Connection refused", Cause.REFUSED),
])
def test_libpq_errors_get_their_cause(fatal: str, cause: Cause) -> None:
    failure = translate(psycopg.OperationalError(HEAD + fatal), 2.0)
    assert failure.cause is cause, failure
