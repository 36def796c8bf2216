"""The fault catalog: faults real GVP deployments have, injected one at a time into the namespace lab.

``python -m gvpconf_lab.netlab.faults`` (``make faults``) brings up the fault lab
(``gvpconf_lab.netlab.faultlab``: the namespace lab that plays the cluster, plus a resolver), checks that a
healthy run verifies every connection from every pod, then for each fault of ``CATALOG``: injects it,
runs the whole suite from every pod (each inside its namespace, as ``make pods-lab`` does), undoes it.
The call tests are opted into in the fault lab's inventory (4's ``sip.call``, 9's ``sbc.call``, 14's
``rtsp.setup``, 19's ``rtp.ingress``), so media faults show and a healthy run verifies call media too;
19, whose source (Nuance) is no pod, is run from inside each MCP pod, as the runner plans it
(``gvpconf.pods.runner.with_ingress_runs``).

The catalog: 38 rows. 37 faults of the kinds that break GVP deployments (NetworkPolicy allow rules
missing, a zone unreachable, DNS, TLS, credentials, brokers and databases, Consul, the fetch proxy and
DAS, Nexus, egress to Google, part of the SBC's RTP range dropped, path-MTU blackholes, hung peers,
Prometheus no longer scraping a pod, and on the media path: Nuance -> MCP RTP dropped while MCP -> Nuance
passes, 5% random loss and jitter over the threshold through the lab's relay), and one known limit (a
hung Config Server) that must show no failure at all.

Each fault states, cilium-style, *how* it must show: which connections must fail, from which pods and to
which targets, with which causes (``Expect``); every other case of every connection must still pass. A fault
is **detected** when each expectation has at least one failing case in its scope, every failing case in
that scope has one of the stated causes (and, where stated, a message that says so: "MTU"), and nothing
else failed; a failure outside every scope is **collateral**. Time to verdict is the slowest expected
failing case (the probe's own time); the budget is the connection's probe timeout + 1 s.

Output: a table on stdout, the same as Markdown in ``reports/faults.md``, and a JUnit file with one case
per fault (``reports/faults-junit.xml``). ``--quick`` runs the few faults marked quick (``make test``
runs them through the selftests so the mechanism cannot rot); ``--only NAME`` runs the named ones.

The expected causes are the suite's causes (dns, refused, timeout, tls, auth, semantic, protocol), which
hold whatever a probe's internals are: a wrong ActiveMQ password is ``auth`` whether OpenWire or STOMP
notices first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gvpconf.pods import runner
from gvpconf.pods.model import RunOutcome
from gvpconf_lab.base import LabError
from gvpconf_lab.lifecycle import DEFAULT_TIMEOUTS, run_command
from gvpconf_lab.netlab.backend import LocalBackend
from gvpconf_lab.netlab.faultlab import SIP_SERVER_NAME, FaultLab, Undo
from gvpconf_lab.netlab.faultpeers import HTML_ERROR
from gvpconf_lab.netlab.netns import NetnsError
from gvpconf_lab.netlab.peers import NetnsPostgres

PROG = "python -m gvpconf_lab.netlab.faults"
FAILED_OUTCOMES = ("failed", "error")


@dataclass(frozen=True)
class Expect:
    """Connection ``connection`` must fail with one of ``causes``, from ``pods`` to ``targets`` (None: any)."""

    connection: int
    causes: frozenset[str]
    pods: frozenset[str] | None = None
    targets: frozenset[str] | None = None
    message: str | None = None  # a regular expression every failing case's message must match

    def covers(self, case: Case) -> bool:
        return (case.connection == self.connection and (self.pods is None or case.pod in self.pods)
                and (self.targets is None or case.target in self.targets))

    @property
    def text(self) -> str:
        scope = []
        if self.pods is not None:
            scope.append("from " + ",".join(sorted(self.pods)))
        if self.targets is not None:
            scope.append("to " + ",".join(sorted(self.targets)))
        where = f" [{' '.join(scope)}]" if scope else ""
        msg = f" /{self.message}/" if self.message else ""
        return f"#{self.connection} {'|'.join(sorted(self.causes))}{where}{msg}"


def expect(connection: int, *causes: str, pods: Iterable[str] | None = None, targets: Iterable[str] | None = None,
           message: str | None = None) -> Expect:
    return Expect(connection, frozenset(causes), frozenset(pods) if pods is not None else None,
                  frozenset(targets) if targets is not None else None, message)


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    inject: Callable[[FaultLab], Undo]
    expects: tuple[Expect, ...]
    quick: bool = False
    #: a fault the suite cannot detect in principle, and why: it must show no failure at all (if one
    #: appears, the limit is gone and the README's known limits must be updated)
    limit: str | None = None


@dataclass(frozen=True)
class Case:
    pod: str
    connection: int
    target: str
    probe: str
    outcome: str
    cause: str
    message: str
    duration_s: float
    attempts: int = 1

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED_OUTCOMES

    @property
    def text(self) -> str:
        return f"#{self.connection} {self.cause or self.outcome} ({self.pod}->{self.target} {self.probe})"


@dataclass
class Verdict:
    fault: Fault
    cases: list[Case] = field(default_factory=list)
    run_errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    collateral: list[Case] = field(default_factory=list)
    time_to_verdict_s: float = 0.0
    budget_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.collateral and not self.run_errors

    @property
    def observed(self) -> list[Case]:
        return [c for c in self.cases if c.failed]


# -- levers ------------------------------------------------------------------------------------------
def _all(*undos: Undo) -> Undo:
    def undo() -> None:
        for u in reversed(undos):
            u()
    return undo


def remove_allow(connection: int, source: str, action: str = "DROP") -> Callable[[FaultLab], Undo]:
    """The NetworkPolicy allow rule of ``connection`` from ``source`` missing; the rest met by ``action``."""
    def inject(lab: FaultLab) -> Undo:
        gone = lab.remove_allow(connection, source)
        if action == "REJECT":
            lab.set_default_action("REJECT")

        def undo() -> None:
            lab.restore_allow(gone)
            if action == "REJECT":
                lab.set_default_action("DROP")
        return undo
    return inject


def zone_unreachable(zone: str) -> Callable[[FaultLab], Undo]:
    """Every MCP pod of ``zone`` unreachable from both RM pods (a zone's network down, seen from the RMs)."""
    def inject(lab: FaultLab) -> Undo:
        mcps = [n.name for n in lab.pods() if n.role == "mcp" and n.zone == zone]
        rms = [n.name for n in lab.pods() if n.role == "rm"]
        return _all(*(lab.block(rm, mcp, 5070) for rm in rms for mcp in mcps))
    return inject


def dns_record(records: dict[str, str] | None) -> Callable[[FaultLab], Undo]:
    """The resolver's records replaced (``{}``: the SIP Server's name gone, NXDOMAIN)."""
    def inject(lab: FaultLab) -> Undo:
        before = dict(lab.resolver.records)
        lab.resolver.records = dict(records or {})
        lab.resolver.reload()

        def undo() -> None:
            lab.resolver.records = before
            lab.resolver.reload()
        return undo
    return inject


def dns_wrong_address(lab: FaultLab) -> Undo:
    """A stale record: the SIP Server's name points at another node (SQL Server's: its stand-in listens on 1433
    only, and the RM's egress chain drops anything else to it)."""
    return dns_record({SIP_SERVER_NAME: lab.address("sqlserver")})(lab)


def dns_silent(lab: FaultLab) -> Undo:
    """The resolver does not answer (its port filtered): lookups time out."""
    return _all(lab.input_rule("dns", ["-p", "udp", "--dport", "53", "-j", "DROP"]),
                lab.input_rule("dns", ["-p", "tcp", "--dport", "53", "-j", "DROP"]))


def dns_servfail(lab: FaultLab) -> Undo:
    """The resolver fails: it forwards the zone to an upstream that is gone and answers SERVFAIL."""
    return lab.resolver_servfail()


def pg_certificate(kind: str) -> Callable[[FaultLab], Undo]:
    """PostgreSQL's server certificate replaced: ``expired``, ``rotated`` (another CA), ``wrong-name``."""
    def inject(lab: FaultLab) -> Undo:
        pg = lab.peers["postgres"]
        assert isinstance(pg, NetnsPostgres)
        address = lab.address("postgres")
        if kind == "expired":
            cert, key = lab.ca.issue("postgres-expired", dns=("postgres",), ips=(address,), expired=True)
        elif kind == "rotated":
            cert, key = lab.rotated_ca().issue("postgres-rotated", dns=("postgres",), ips=(address,))
        else:
            cert, key = lab.ca.issue("postgres-wrongname", dns=("wrong.invalid",), ips=())
        names = pg.install_certificate(cert, key, f"fault-{kind}")
        return lab.pg_settings(ssl_cert_file=names[0], ssl_key_file=names[1])
    return inject


def pg_max_tls(version: str) -> Callable[[FaultLab], Undo]:
    def inject(lab: FaultLab) -> Undo:
        return lab.pg_settings(ssl_max_protocol_version=version)
    return inject


def pg_hba_reject(node: str) -> Callable[[FaultLab], Undo]:
    def inject(lab: FaultLab) -> Undo:
        return lab.pg_hba_reject(lab.address(node))
    return inject


def pg_revoke_connect(lab: FaultLab) -> Undo:
    return lab.pg_revoke_connect()


def wrong_secret(name: str) -> Callable[[FaultLab], Undo]:
    """The secret the suite reads (as a pod reads its mounted secret) no longer matches the server's."""
    def inject(lab: FaultLab) -> Undo:
        path = lab.secrets_dir / name
        before = path.read_text()
        path.write_text("not-" + before)

        def undo() -> None:
            path.write_text(before)
        return undo
    return inject


def amq_connector_disabled(lab: FaultLab) -> Undo:
    return lab.amq_without_connector()


def hung(peer: str) -> Callable[[FaultLab], Undo]:
    """The peer's process stopped (SIGSTOP): the kernel still accepts TCP, nothing ever answers."""
    def inject(lab: FaultLab) -> Undo:
        return lab.signal_peer(peer, signal.SIGSTOP, signal.SIGCONT)
    return inject


def mtu_blackhole(node: str, port: int, proto: str = "tcp", above: int = 1000) -> Callable[[FaultLab], Undo]:
    """Packets to ``node``:``port`` longer than ``above`` bytes dropped (iptables length match): what a path that
    drops large packets or fragments does to an INVITE with SDP while a small OPTIONS passes."""
    def inject(lab: FaultLab) -> Undo:
        return lab.input_rule(node, ["-p", proto, "--dport", str(port), "-m", "length", "--length",
                                     f"{above + 1}:65535", "-j", "DROP"])
    return inject


def consul_no_leader(lab: FaultLab) -> Undo:
    return lab.consul_no_leader()


def consul_deregistered(mcp: str) -> Callable[[FaultLab], Undo]:
    def inject(lab: FaultLab) -> Undo:
        return lab.consul_deregister(mcp)
    return inject


def consul_check(mcp: str, status: str) -> Callable[[FaultLab], Undo]:
    def inject(lab: FaultLab) -> Undo:
        return lab.consul_check(mcp, status)
    return inject


# -- the catalog ------------------------------------------------------------------------------------
RM = ("rm-0", "rm-1")
MCP = ("mcp-0", "mcp-1")
#: the media faults' relay: its seed (a repeatable run) and the uniform delay +- jitter it adds
LOSS_SEED, JITTER_MS = 1, 200.0

CATALOG: tuple[Fault, ...] = (
    Fault("allow-missing-drop", "NetworkPolicy allow rule for #3 missing from rm-0 (default DROP)",
          remove_allow(3, "rm-0"), (expect(3, "timeout", pods=["rm-0"]),), quick=True),
    Fault("allow-missing-reject", "NetworkPolicy allow rule for #17 missing from configserver (default REJECT)",
          remove_allow(17, "configserver", "REJECT"), (expect(17, "refused", pods=["configserver"]),), quick=True),
    Fault("allow-missing-drop-mcp", "NetworkPolicy allow rule for #8 missing from mcp-1 (default DROP)",
          remove_allow(8, "mcp-1"), (expect(8, "timeout", pods=["mcp-1"]),)),
    Fault("zone-b-mcps-unreachable", "zone-b's MCP pods unreachable from both RM pods",
          zone_unreachable("zone-b"), (expect(4, "timeout", pods=RM, targets=["gvp-mcp-1"]),)),
    Fault("dns-nxdomain", f"{SIP_SERVER_NAME} removed from DNS (NXDOMAIN)",
          dns_record({}), (expect(1, "dns", pods=RM, message="does not resolve"),), quick=True),
    Fault("dns-resolver-silent", "the cluster resolver does not answer",
          dns_silent, (expect(1, "dns", pods=RM),)),
    Fault("dns-servfail", "the cluster resolver answers SERVFAIL",
          dns_servfail, (expect(1, "dns", pods=RM),)),
    Fault("dns-stale-record", f"{SIP_SERVER_NAME} points at a stale address",
          dns_wrong_address, (expect(1, "timeout", "refused", pods=RM),)),
    Fault("tls-expired", "PostgreSQL serves an expired certificate",
          pg_certificate("expired"), (expect(17, "tls", message="expir"),)),
    Fault("tls-rotated-ca", "PostgreSQL's certificate is from a rotated CA the inventory does not trust",
          pg_certificate("rotated"), (expect(17, "tls"),)),
    Fault("tls-wrong-name", "PostgreSQL's certificate is for another name",
          pg_certificate("wrong-name"), (expect(17, "tls"),)),
    Fault("tls-below-minimum", "PostgreSQL allows only TLSv1.2, the inventory asks TLSv1.3 at least",
          pg_max_tls("TLSv1.2"), (expect(17, "tls"),)),
    Fault("amq-wrong-password", "the ActiveMQ password in the pods' secret no longer matches the broker's",
          wrong_secret("activemq-password"), (expect(3, "auth"), expect(8, "auth"))),
    Fault("amq-connector-disabled", "the broker runs without its transport connector",
          amq_connector_disabled, (expect(3, "refused"), expect(8, "refused"))),
    Fault("amq-hung", "the broker process hangs (accepts TCP, never answers)",
          hung("activemq"), (expect(3, "timeout"), expect(8, "timeout"))),
    Fault("pg-hba-rejects-configserver", "pg_hba.conf rejects the Config Server pod's address",
          pg_hba_reject("configserver"), (expect(17, "auth"),)),
    Fault("pg-user-lacks-connect", "the database user lost CONNECT on its database",
          pg_revoke_connect, (expect(17, "auth"),)),
    Fault("pg-wrong-password", "the PostgreSQL password in the pod's secret no longer matches",
          wrong_secret("postgres-password"), (expect(17, "auth"),)),
    Fault("consul-token-revoked", "the Consul ACL token the pods hold was revoked (Consul no longer knows it)",
          wrong_secret("consul-token"), (expect(6, "auth"), expect(10, "auth"))),
    Fault("consul-mcp-deregistered", "mcp-1 is no longer registered in Consul",
          consul_deregistered("mcp-1"), (expect(10, "semantic", pods=["mcp-1"], message="registered"),)),
    Fault("consul-check-critical", "mcp-0's health check in Consul is critical",
          consul_check("mcp-0", "critical"), (expect(10, "semantic", pods=["mcp-0"], message="critical|passing"),)),
    Fault("consul-no-leader", "Consul has no elected leader",
          consul_no_leader, (expect(6, "semantic", message="leader"), expect(10, "semantic", message="leader"))),
    Fault("sbc-rtp-range-partly-dropped", "UDP 30000-45000 of the SBC's RTP range dropped on its way",
          lambda lab: lab.input_rule("sbc", ["-p", "udp", "--dport", "30000:45000", "-j", "DROP"]),
          (expect(9, "timeout", pods=MCP),)),
    Fault("mtu-blackhole-sbc-udp", "the path to the SBC's SIP address drops UDP packets over 1000 bytes",
          mtu_blackhole("sbc", 5060, "udp"), (expect(9, "timeout", pods=MCP, message="MTU"),)),
    Fault("proxy-denies-das", "the MCP's fetch proxy denies the DAS host (403 from its filter)",
          lambda lab: lab.proxy_denies("das"), (expect(12, "refused", pods=MCP, message="proxy"),)),
    Fault("das-html-200", "the DAS serves an HTML error page with status 200 where the VoiceXML was",
          lambda lab: lab.das_serves(HTML_ERROR), (expect(12, "semantic", pods=MCP),)),
    Fault("prometheus-drops-a-pod", "Prometheus no longer scrapes the mcp-0 pod (its target gone after a reload)",
          lambda lab: lab.prometheus_drops("mcp-0"), (expect(18, "semantic", pods=["prometheus"],
                                                             targets=["gvp-mcp-0"], message="scrape"),)),
    Fault("nexus-403", "Nexus no longer accepts the token the pods hold (403)",
          wrong_secret("nexus-token"), (expect(13, "auth", pods=MCP),)),
    Fault("nexus-subprotocol-changed", "Nexus now speaks another subprotocol than the inventory's",
          lambda lab: lab.nexus_subprotocol("nexus.voicebot.v2"), (expect(13, "semantic", "protocol", pods=MCP),)),
    Fault("google-egress-dropped", "egress to the Google API dropped at 443 (both MCP pods)",
          lambda lab: _all(*(lab.block(m, "google", 443) for m in MCP)), (expect(22, "timeout", pods=MCP),)),
    Fault("hung-sip-server", "the SIP Server process hangs (accepts TCP, never answers)",
          hung("sip-server"), (expect(1, "timeout", pods=RM),)),
    Fault("hung-mcp", "one MCP pod's SIP process hangs",
          hung("sip-mcp-1"), (expect(4, "timeout", pods=RM, targets=["gvp-mcp-1"]),)),
    Fault("hung-configserver", "the Config Server process hangs (accepts TCP, never answers)",
          hung("configserver"), (),
          limit="the real Config Server is silent until its client speaks Genesys' proprietary protocol, which "
                "the suite does not speak (it connects and holds, sending nothing): a hung server looks the same. "
                "Connections 2, 5, 7 and 15 prove reachability and that nothing resets or speaks another protocol, "
                "no more"),
    Fault("mtu-blackhole-mcp", "the path to mcp-0 drops packets over 1000 bytes (path-MTU blackhole)",
          mtu_blackhole("mcp-0", 5070),
          (expect(4, "timeout", pods=RM, targets=["gvp-mcp-0"], message="MTU"),), quick=True),
    Fault("media-one-way-nuance-to-mcp", "UDP from Nuance dropped on its way into the MCP pods (RTP MCP -> Nuance "
          "still passes)", lambda lab: lab.media_one_way("nuance", "mcp"),
          (expect(19, "timeout", pods=MCP, message="nothing arrived"),)),
    Fault("media-loss-5pct", "5% random loss on the SBC's media path (the lab's relay, seeded, before the echo)",
          lambda lab: lab.media_impaired(loss_pct=5.0, seed=LOSS_SEED),
          (expect(9, "semantic", pods=MCP, message="loss"),)),
    Fault("media-jitter-over-threshold", f"{JITTER_MS:.0f} ms +- {JITTER_MS:.0f} ms uniform delay on the SBC's "
          "media path (the lab's relay): jitter over the 80 ms threshold",
          lambda lab: lab.media_impaired(delay_ms=JITTER_MS, jitter_ms=JITTER_MS, seed=LOSS_SEED),
          (expect(9, "semantic", pods=MCP, message="jitter"),)),
    Fault("mtu-blackhole-sip-server", "the path to the SIP Server drops packets over 1200 bytes",
          mtu_blackhole("sip-server", 5090, above=1200),
          (expect(1, "timeout", pods=RM, message="MTU"),)),
)


# -- running ----------------------------------------------------------------------------------------
def read_cases(outcomes: Sequence[RunOutcome]) -> tuple[list[Case], list[str]]:
    """Every case of every pod's results.json, and the runs that produced none."""
    cases: list[Case] = []
    errors: list[str] = []
    for o in outcomes:
        if o.error or not o.results:
            errors.append(f"{o.source.pod}: {o.error or 'no results'}")
            continue
        data = json.loads(o.results)
        for row in data["connections"]:
            for c in row["cases"]:
                cases.append(Case(o.source.pod, int(c["connection"]), c["target"], c.get("probe") or c["test"],
                                  c["outcome"], c.get("cause", ""), c.get("message", ""),
                                  (c.get("duration_ms") or 0.0) / 1000, max(1, len(c.get("attempts") or []))))
    return cases, errors


def judge(fault: Fault, cases: list[Case], budget_s: float) -> Verdict:
    v = Verdict(fault, cases, budget_s=budget_s)
    failed = [c for c in cases if c.failed]
    for e in fault.expects:
        scope = [c for c in failed if e.covers(c)]
        if not scope:
            v.problems.append(f"{e.text}: not detected")
            continue
        wrong = [c for c in scope if c.cause not in e.causes]
        if wrong:
            v.problems.append(f"{e.text}: wrong cause " + ", ".join(sorted({c.text for c in wrong})))
        if e.message:
            silent = [c for c in scope if not re.search(e.message, c.message, re.IGNORECASE)]
            if silent:
                v.problems.append(f"{e.text}: message does not say /{e.message}/: {silent[0].message[:160]}")
        v.time_to_verdict_s = max(v.time_to_verdict_s, *(c.duration_s for c in scope))
    v.collateral = [c for c in failed if not any(e.covers(c) for e in fault.expects)]
    if v.time_to_verdict_s > budget_s:
        v.problems.append(f"verdict after {v.time_to_verdict_s:.1f} s, over the {budget_s:.1f} s budget")
    return v


def run_suite(lab: FaultLab, workdir: Path, *, run_timeout: float = 120.0, parallel: int = 3,
              inventory: Path | None = None) -> list[RunOutcome]:
    """The whole suite from every pod (one per role and zone), each inside its namespace; and connection 19 from
    each MCP pod, as the runner plans it (``runner.with_ingress_runs``)."""
    inventory = inventory or lab.inventory_path
    plan = runner.with_ingress_runs(runner.pick_per_zone(lab.source_pods(), runner.roles_with_connections()),
                                    calls=runner.calls_opted_in(yaml.safe_load(inventory.read_text()), []))
    backend = LocalBackend(inventory, workdir)
    return runner.run_all(backend, plan, run_timeout=run_timeout, total_timeout=run_timeout * 3, parallel=parallel)


def run_fault(lab: FaultLab, fault: Fault, workdir: Path, budget_s: float) -> Verdict:
    started = time.monotonic()
    undo = fault.inject(lab)
    try:
        outcomes = run_suite(lab, workdir / fault.name)
    finally:
        undo()
    cases, errors = read_cases(outcomes)
    v = judge(fault, cases, budget_s)
    v.run_errors = errors
    v.wall_s = time.monotonic() - started
    return v


def select(names: Sequence[str], quick: bool) -> list[Fault]:
    if names:
        known = {f.name: f for f in CATALOG}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise LabError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return [known[n] for n in names]
    return [f for f in CATALOG if f.quick] if quick else list(CATALOG)


# -- output -----------------------------------------------------------------------------------------
HEAD = ("fault", "expected failures (causes)", "observed failures (causes)", "collateral", "verdict in", "result")


def _observed(v: Verdict) -> str:
    by_conn: dict[int, set[str]] = {}
    for c in v.observed:
        if c not in v.collateral:
            by_conn.setdefault(c.connection, set()).add(c.cause or c.outcome)
    return "; ".join(f"#{n} {'|'.join(sorted(causes))}" for n, causes in sorted(by_conn.items())) or "none"


def rows(verdicts: Sequence[Verdict]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for v in verdicts:
        collateral = "; ".join(sorted({c.text for c in v.collateral})) or "none"
        if v.fault.limit:
            result = "known limit" if v.ok else "LIMIT GONE? " + "; ".join(
                [c.text for c in v.collateral] + v.run_errors)
        elif v.ok:
            result = "detected"
        else:
            result = ("MISSED: " + "; ".join(v.problems + v.run_errors)) if v.problems or v.run_errors \
                else "COLLATERAL"
        expected = "; ".join(e.text for e in v.fault.expects) or "none (known limit)"
        out.append((v.fault.name, expected, _observed(v), collateral,
                    f"{v.time_to_verdict_s:.1f} s / {v.budget_s:.0f}", result))
    return out


def table(verdicts: Sequence[Verdict]) -> str:
    data = [HEAD, *rows(verdicts)]
    widths = [max(len(r[i]) for r in data) for i in range(len(HEAD))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in data]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(verdicts: Sequence[Verdict], header: str) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [header, "", "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows(verdicts)]
    lines += ["", "What each fault is:", ""]
    lines += [f"- `{v.fault.name}`: {v.fault.what}" + (f" **Known limit**: {v.fault.limit}" if v.fault.limit else "")
              for v in verdicts]
    return "\n".join(lines) + "\n"


def junit(verdicts: Sequence[Verdict]) -> ET.ElementTree:
    failures = sum(1 for v in verdicts if not v.ok)
    suite = ET.Element("testsuite", name="gvpconf-faults", tests=str(len(verdicts)), failures=str(failures),
                       errors="0", time=f"{sum(v.wall_s for v in verdicts):.3f}")
    for v, r in zip(verdicts, rows(verdicts), strict=True):
        case = ET.SubElement(suite, "testcase", classname="gvpconf.faults", name=v.fault.name, time=f"{v.wall_s:.3f}")
        props = ET.SubElement(case, "properties")
        for name, value in zip(("fault", "expected", "observed", "collateral", "time_to_verdict"), r, strict=False):
            ET.SubElement(props, "property", name=name, value=value)
        ET.SubElement(props, "property", name="what", value=v.fault.what)
        if not v.ok:
            failure = ET.SubElement(case, "failure", message=r[-1][:500])
            failure.text = "\n".join(c.text + ": " + c.message for c in v.observed)
    ET.indent(suite)
    return ET.ElementTree(suite)


def summary(verdicts: Sequence[Verdict]) -> str:
    faults = [v for v in verdicts if not v.fault.limit]
    limits = [v for v in verdicts if v.fault.limit]
    text = (f"{sum(v.ok for v in faults)}/{len(faults)} faults detected with the right cause; "
            f"{sum(len(v.collateral) for v in faults)} collateral failures; slowest verdict "
            f"{max((v.time_to_verdict_s for v in faults), default=0):.1f} s (budget: probe timeout "
            f"{DEFAULT_TIMEOUTS['probe']:.0f} s + 1 s).")
    if limits:
        text += f" {sum(v.ok for v in limits)}/{len(limits)} known limits confirmed undetectable."
    return text


# -- main -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def fault_lab(workdir: Path, mcp_pods: int = 2) -> Iterator[FaultLab]:
    with FaultLab(workdir, mcp_pods=mcp_pods) as lab:
        yield lab


def run_catalog(faults: Sequence[Fault], workdir: Path, *, report: Path | None, junitxml: Path | None,
                log: Callable[[str], None] = print) -> list[Verdict]:
    budget = float(DEFAULT_TIMEOUTS["probe"]) + 1.0
    with fault_lab(workdir) as lab:
        log(lab.describe())
        healthy = judge(Fault("healthy", "no fault", lambda _lab: lambda: None, ()), [], budget)
        outcomes = run_suite(lab, workdir / "healthy")
        healthy.cases, healthy.run_errors = read_cases(outcomes)
        healthy.collateral = healthy.observed
        if not healthy.ok:
            raise LabError("the healthy lab does not verify: " + "; ".join(
                [c.text + ": " + c.message for c in healthy.observed] + healthy.run_errors))
        log(f"healthy: {len(healthy.cases)} cases from {len({c.pod for c in healthy.cases})} pods, all passed")
        verdicts = []
        for fault in faults:
            v = run_fault(lab, fault, workdir, budget)
            log(f"{fault.name}: {'detected' if v.ok else 'NOT OK'} in {v.wall_s:.1f} s")
            verdicts.append(v)
    header = (f"# Fault catalog: {len(verdicts)} faults injected one at a time into the namespace lab\n\n"
              + summary(verdicts))
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(markdown(verdicts, header))
    if junitxml is not None:
        junitxml.parent.mkdir(parents=True, exist_ok=True)
        junit(verdicts).write(junitxml, encoding="unicode", xml_declaration=True)
    return verdicts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Inject the fault catalog into the namespace lab.")
    p.add_argument("--quick", action="store_true", help="only the faults marked quick")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="only this fault (repeatable)")
    p.add_argument("--list", action="store_true", help="list the catalog and exit")
    p.add_argument("--report", default="reports/faults.md", help="Markdown table (default reports/faults.md)")
    p.add_argument("--junitxml", default="reports/faults-junit.xml", help="one JUnit case per fault")
    p.add_argument("--workdir", help="keep the lab's files here (default: a temporary directory)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for f in CATALOG:
            print(f"{f.name:28s} {'; '.join(e.text for e in f.expects):55s} {f.what}")
        return 0
    if os.geteuid() != 0:
        print(f"{PROG}: needs root (network namespaces and iptables)", file=sys.stderr)
        return 2

    def command() -> int:
        faults = select(args.only, args.quick)
        workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gvpc-faults-"))
        verdicts = run_catalog(faults, workdir, report=Path(args.report), junitxml=Path(args.junitxml))
        print(table(verdicts))
        print(f"{summary(verdicts)} Table in {args.report}")
        return 0 if all(v.ok for v in verdicts) else 1

    return run_command(PROG, command, (LabError, NetnsError, subprocess.SubprocessError))


if __name__ == "__main__":
    sys.exit(main())



