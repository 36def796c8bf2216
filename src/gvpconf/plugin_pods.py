"""pytest hooks and options for running from the pods: ``--source auto`` and the expected-deny matrix.

* ``--source auto`` is resolved here (``gvpconf.pods.roles.detect``) before collection, so the rest
  of the plugin only ever sees a role. (``gvpconf.plugin`` must list ``auto`` among ``--source``'s
  choices for the option to be accepted.)
* ``--deny-matrix`` (opt-in) adds one generated case per target of every destination the table does
  NOT connect this pod's role to (``gvpconf.pods.deny``). They are not modules under ``tests/``
  (that directory holds exactly one module per connection of the table): they are generated items
  with node ids ``expected-deny::<role>::deny[...]``, marked ``expected_deny`` and ``from_<role>``.
  A reachable one fails as a least-privilege failure.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

from gvpconf.pods import deny, roles

DENY_FUTURES = pytest.StashKey[dict[str, "concurrent.futures.Future[deny.DenyResult]"]]()
DENY_RESULTS = pytest.StashKey[list[tuple[str, deny.DenyResult | None]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gvpconf-pods", "GVP conformance: running from the pods")
    group.addoption("--deny-matrix", action="store_true", default=False,
                    help="also check that this pod's role can NOT reach the destinations the table does not "
                         "connect it to (needs --source ROLE or auto)")
    group.addoption("--deny-timeout", metavar="S", type=float, default=3.0,
                    help="connect timeout of one expected-deny check (default 3 s)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "expected_deny: a connection the table does not have; it must be blocked")
    if getattr(config.option, "source", None) == "auto":
        try:
            found = roles.detect()
        except roles.RoleError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.option.source = found.role
        config.stash[DETECTED] = found


DETECTED = pytest.StashKey[roles.Detected]()


class DenyItem(pytest.Item):
    """One expected-deny check: a TCP connect that must fail."""

    def __init__(self, *, check: deny.DenyCheck, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.add_marker("expected_deny")
        self.add_marker(f"from_{check.role}")

    def runtest(self) -> None:
        futures = self.config.stash.get(DENY_FUTURES, {})
        fut = futures.get(self.nodeid)
        timeout = float(self.config.getoption("deny_timeout"))
        result = fut.result() if fut is not None else deny.run_check(self.check, timeout)
        self.config.stash.setdefault(DENY_RESULTS, []).append((self.check.id, result))
        props = self.user_properties
        props += [("deny.source_role", self.check.role), ("deny.destination", self.check.destination),
                  ("target", self.check.target.id), ("address", self.check.target.address),
                  ("expected", "blocked"), ("deny.result", result.how)]
        if self.check.target.zone:
            props.append(("zone", self.check.target.zone))
        if result.how == "refused":
            props.append(("deny.note", "refused: a REJECT rule, or nothing listening (TCP cannot tell them apart)"))
        if not result.blocked:
            cause = "least-privilege" if result.how == "connected" else result.how
            props.append(("cause", cause))
            pytest.fail(f"expected-deny {self.check.role} -> {self.check.destination} "
                        f"({self.check.target.address}): {result.detail}; the table has no such connection, "
                        "so the pod's policy must block it", pytrace=False)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"expected-deny {self.check.id}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if not config.getoption("deny_matrix"):
        return
    from gvpconf.plugin import STATE

    role = config.getoption("source")
    if role in (None, "all"):
        raise pytest.UsageError("--deny-matrix needs --source ROLE (or auto): the matrix is what one pod's "
                                "role must not reach")
    inventory = config.stash[STATE].inventory
    if inventory is None:
        raise pytest.UsageError("--deny-matrix needs an inventory (--inventory FILE or $GVP_INVENTORY)")
    for check in deny.checks_for(role, inventory):
        name = f"deny[{check.destination}:{check.target.id}]"
        items.append(DenyItem.from_parent(session, name=name, nodeid=f"expected-deny::{role}::{name}",
                                          check=check))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    """Start every expected-deny check at once: a blocked (DROP) target costs one timeout, not one each."""
    checks = [i for i in session.items if isinstance(i, DenyItem)]
    pool = None
    if checks:
        timeout = float(session.config.getoption("deny_timeout"))
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(checks)),
                                                     thread_name_prefix="gvpconf-deny")
        session.config.stash[DENY_FUTURES] = {i.nodeid: pool.submit(deny.run_check, i.check, timeout)
                                              for i in checks}
    try:
        return (yield)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    found = config.stash.get(DETECTED, None)
    return [f"gvpconf: --source auto -> {found.role} ({found.how})"] if found is not None else []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(DENY_RESULTS, None)
    if not results:
        return
    terminalreporter.section("expected-deny matrix")
    for check_id, result in results:
        if result is None:
            continue
        verdict = "blocked" if result.blocked else "REACHABLE" if result.how == "connected" else "INCONCLUSIVE"
        terminalreporter.write_line(f"{check_id:50s} {verdict:12s} {result.how}")
