"""The report says where each case went: the address and port probed (passing cases too), from which pod and
zone, how long it took, its evidence under its own target, a per-zone summary, which peers were stand-ins, and
whether the inventory it names still exists."""

from __future__ import annotations

import re

from gvpconf.report import html, markdown
from gvpconf.report.model import CaseRecord, RunRecord
from selftests.report.test_report_merge import case, record


def jitter(target: str, address: str, zone: str, value: float, outcome: str = "passed") -> CaseRecord:
    c = case(4, target, "sip.call", outcome=outcome, cause="semantic" if outcome == "failed" else "")
    c.address, c.zone, c.duration_ms, c.facts = address, zone, 840.0, {"rtp.jitter_ms": value}
    return c


def run() -> RunRecord:
    cases = [jitter("mcp-0", "10.0.0.10:5070", "zone-a", 6.984), jitter("mcp-1", "10.0.0.11:5070", "zone-b", 7.818),
             jitter("mcp-2", "10.0.0.12:5070", "zone-b", 22.593, "failed")]
    das = case(12, "das", "http.vxml")
    das.address = "127.0.0.1:38181"
    r = record("rm-0", "zone-a", "rm", {4: ("FAILED", cases, ""), 12: ("verified", [das], "")})
    r.stand_ins = {"das": "nginx serving stand-in VoiceXML"}
    r.inventory_path = "/tmp/gvpconf-lab-x/inventory.yaml"
    r.inventory_note = "the lab's temporary file, removed when the lab stops (its sha256 identifies it)"
    return r


def test_every_target_shows_its_address_duration_and_own_evidence() -> None:
    md, page = markdown.render(run()), html.render(run())
    for text in (md, page):
        assert "mcp-0 10.0.0.10:5070 · zone zone-a · sip.call · 840 ms" in text.replace("&middot;", "·")
        assert "das 127.0.0.1:38181" in text  # a passing target's real port, not the table's 80
        assert "per target (from pod rm-0, zone zone-a)" in text
        assert "6.984 / 7.818" not in text
    # evidence grouped per target: each value under its own target
    assert re.search(r"mcp-0: rtp\.jitter_ms = 6\.984<br>mcp-1: rtp\.jitter_ms = 7\.818<br>mcp-2: rtp\.jitter_ms = "
                     r"22\.593", md), md
    assert re.search(r"<b>mcp-2</b>: rtp\.jitter_ms = 22\.593", page)


def test_a_zone_summary() -> None:
    md = markdown.render(run())
    assert "## Zones" in md
    assert "| zone-a | 1 | 1 | 0 | 0 |" in md
    assert "| zone-b | 2 | 1 | 1 | 0 |" in md
    assert "| (no zone) | 1 | 1 | 0 | 0 |" in md  # das
    assert 'id="zones"' in html.render(run())


def test_stand_ins_and_a_temporary_inventory_are_said() -> None:
    for text in (markdown.render(run()), html.render(run())):
        assert "stand-in" in text and "nginx serving stand-in VoiceXML" in text
        assert "das 127.0.0.1:38181 (stand-in)" in text
        assert "/tmp/gvpconf-lab-x/inventory.yaml (the lab&#x27;s temporary file, removed when the lab stops" in \
            text.replace("`", "").replace("'", "&#x27;")
