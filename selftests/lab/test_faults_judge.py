"""The fault catalog's verdicts (``gvpconf_lab.netlab.faults.judge``): detected, missed, wrong cause, collateral.

Pure: cases are made by hand. The catalog run against the namespace lab is ``selftests/e2e/test_faults_quick.py``.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

from gvpconf_lab.netlab import faults
from gvpconf_lab.netlab.faultlab import SBC_MEDIA
from gvpconf_lab.netlab.faults import CATALOG, JITTER_MS, LOSS_SEED, Case, Fault, expect, judge


def case(connection: int, cause: str = "", *, pod: str = "rm-0", target: str = "t", message: str = "",
         seconds: float = 0.1) -> Case:
    return Case(pod, connection, target, "p.q", "failed" if cause else "passed", cause, message, seconds)


FAULT = Fault("f", "a fault", lambda lab: lambda: None,
              (expect(4, "timeout", pods=["rm-0", "rm-1"], targets=["gvp-mcp-1"], message="MTU"),))


def test_detected_with_the_right_cause_and_nothing_else() -> None:
    v = judge(FAULT, [case(4, "timeout", target="gvp-mcp-1", message="path MTU blackhole", seconds=3.1),
                      case(4, target="gvp-mcp-0"), case(3)], 11.0)
    assert v.ok and v.problems == [] and v.collateral == []
    assert v.time_to_verdict_s == 3.1


def test_nothing_failed_is_not_detected() -> None:
    v = judge(FAULT, [case(4, target="gvp-mcp-1")], 11.0)
    assert not v.ok and v.problems == ["#4 timeout [from rm-0,rm-1 to gvp-mcp-1] /MTU/: not detected"]


def test_a_wrong_cause_or_message_is_not_detected() -> None:
    v = judge(FAULT, [case(4, "refused", target="gvp-mcp-1", message="MTU")], 11.0)
    assert not v.ok and "wrong cause #4 refused (rm-0->gvp-mcp-1 p.q)" in v.problems[0]
    v = judge(FAULT, [case(4, "timeout", target="gvp-mcp-1", message="timeout during OPTIONS response")], 11.0)
    assert not v.ok and "message does not say /MTU/" in v.problems[0]


def test_a_failure_outside_every_expectation_is_collateral() -> None:
    v = judge(FAULT, [case(4, "timeout", target="gvp-mcp-1", message="MTU"), case(4, "timeout", target="gvp-mcp-0"),
                      case(17, "tls", pod="configserver")], 11.0)
    assert not v.ok and v.problems == []
    assert [c.text for c in v.collateral] == ["#4 timeout (rm-0->gvp-mcp-0 p.q)", "#17 tls (configserver->t p.q)"]
    assert faults.rows([v])[0][3] == "#17 tls (configserver->t p.q); #4 timeout (rm-0->gvp-mcp-0 p.q)"


def test_a_verdict_later_than_the_budget_is_a_problem() -> None:
    v = judge(FAULT, [case(4, "timeout", target="gvp-mcp-1", message="MTU", seconds=12.5)], 11.0)
    assert not v.ok and v.problems == ["verdict after 12.5 s, over the 11.0 s budget"]


def test_a_known_limit_passes_when_nothing_fails_and_says_so_when_something_does() -> None:
    limit = Fault("hung", "a hung peer", FAULT.inject, (), limit="the protocol's client speaks first")
    quiet = judge(limit, [case(2)], 11.0)
    assert quiet.ok and faults.rows([quiet])[0][1:] == ("none (known limit)", "none", "none", "0.0 s / 11",
                                                         "known limit")
    seen = judge(limit, [case(2, "timeout")], 11.0)
    assert not seen.ok and faults.rows([seen])[0][-1].startswith("LIMIT GONE? #2 timeout")
    assert "1/1 faults detected" not in faults.summary([quiet]) and "1/1 known limits confirmed" in faults.summary(
        [quiet])


def test_table_markdown_and_junit_say_the_same() -> None:
    good = judge(FAULT, [case(4, "timeout", target="gvp-mcp-1", message="MTU")], 11.0)
    bad = judge(Fault("g", "another", FAULT.inject, (expect(3, "auth"),)), [case(3, "timeout")], 11.0)
    text = faults.table([good, bad])
    assert text.splitlines()[0].split() [:2] == ["fault", "expected"]
    assert "detected" in text.splitlines()[2] and "MISSED: #3 auth: wrong cause" in text.splitlines()[3]
    md = faults.markdown([good, bad], "# head")
    assert "| f | #4 timeout [from rm-0,rm-1 to gvp-mcp-1] /MTU/ | #4 timeout | none |" in md
    suite = faults.junit([good, bad]).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["f", "g"]
    assert cases[0].find("failure") is None and cases[1].find("failure") is not None
    props = {p.get("name"): p.get("value") for p in cases[1].iter("property")}
    assert props["expected"] == "#3 auth" and props["observed"] == "#3 timeout"
    ET.tostring(suite)


def test_the_catalog_holds_the_issues_faults() -> None:
    names = {f.name for f in CATALOG}
    assert len(CATALOG) >= 20 and len(names) == len(CATALOG)
    assert {"allow-missing-drop", "allow-missing-reject", "zone-b-mcps-unreachable", "dns-nxdomain",
            "dns-resolver-silent", "dns-servfail", "tls-expired", "tls-rotated-ca", "tls-wrong-name",
            "tls-below-minimum", "amq-wrong-password", "amq-connector-disabled", "pg-hba-rejects-configserver",
            "pg-user-lacks-connect", "hung-sip-server", "mtu-blackhole-mcp", "media-one-way-nuance-to-mcp",
            "media-loss-5pct", "media-jitter-over-threshold"} <= names
    assert all(bool(f.expects) != bool(f.limit) for f in CATALOG)  # each states its failures, or why it cannot
    assert len([f for f in CATALOG if not f.limit]) >= 25
    assert [f.name for f in faults.select([], quick=True)] == [f.name for f in CATALOG if f.quick]
    assert 3 <= len(faults.select([], quick=True)) <= 5


def test_the_media_faults_are_over_their_thresholds_by_construction() -> None:
    """The relay's seeded loss (its own draws, ``random.Random(f"loss-{seed}")``, one per datagram towards the
    echo) drops 5% of 9's call exactly, over its loss threshold; its uniform +- JITTER_MS delay gives an RFC 3550
    jitter near 2a/3 (the e2e relay test checks that theory), well over the jitter threshold."""
    draws = random.Random(f"loss-{LOSS_SEED}")
    packets = int(SBC_MEDIA["packets"])
    lost = sum(draws.random() * 100 < 5.0 for _ in range(packets))
    assert lost * 100 / packets == 5.0 > SBC_MEDIA["max_loss_pct"]
    assert 1.5 * SBC_MEDIA["max_jitter_ms"] < 2 * JITTER_MS / 3
