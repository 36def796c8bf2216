"""``--deny-matrix``: the expected-deny checks, run from the pods.

One generated case per target of every destination the table does NOT connect this pod's role to
(``gvpconf.pods.deny``). They are not modules under ``tests/`` (that directory holds exactly one module
per connection of the table): they are generated items with node ids ``expected-deny::<role>::deny[...]``,
marked ``expected_deny`` and ``from_<role>``. A reachable one fails as a least-privilege failure. Every
check starts at once when the run starts: a blocked (DROP) target costs one timeout, not one each.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import pytest

from gvpconf.inventory import Inventory
from gvpconf.pods import deny


class DenyMatrix:
    """The checks of one run, their futures while it runs, and their results for the end of the run."""

    def __init__(self, role: str, inventory: Inventory, timeout: float) -> None:
        self.role = role
        self.inventory = inventory
        self.timeout = timeout
        self.futures: dict[str, concurrent.futures.Future[deny.DenyResult]] = {}
        self.results: list[tuple[str, deny.DenyResult]] = []
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def items(self, session: pytest.Session) -> list[DenyItem]:
        out = []
        for check in deny.checks_for(self.role, self.inventory):
            name = f"deny[{check.destination}:{check.target.id}]"
            out.append(DenyItem.from_parent(session, name=name, nodeid=f"expected-deny::{self.role}::{name}",
                                            check=check, run=self.run))
        return out

    def start(self, items: list[pytest.Item]) -> None:
        checks = [i for i in items if isinstance(i, DenyItem)]
        if checks:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(checks)),
                                                               thread_name_prefix="gvpconf-deny")
            self.futures = {i.nodeid: self._pool.submit(deny.run_check, i.check, self.timeout) for i in checks}

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, item: DenyItem) -> deny.DenyResult:
        fut = self.futures.get(item.nodeid)
        result = fut.result() if fut is not None else deny.run_check(item.check, self.timeout)
        self.results.append((item.check.id, result))
        return result

    def lines(self) -> list[str]:
        out = []
        for check_id, result in self.results:
            verdict = "blocked" if result.blocked else "REACHABLE" if result.how == "connected" else "INCONCLUSIVE"
            out.append(f"{check_id:50s} {verdict:12s} {result.how}")
        return out


class DenyItem(pytest.Item):
    """One expected-deny check: a TCP connect that must fail."""

    def __init__(self, *, check: deny.DenyCheck, run: Callable[[DenyItem], deny.DenyResult], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self._run = run
        self.add_marker("expected_deny")
        self.add_marker(f"from_{check.role}")

    def runtest(self) -> None:
        result = self._run(self)
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
