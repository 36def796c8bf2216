"""``make faults``' mechanism, kept from rotting: the quick subset of the fault catalog against the fault lab.

The same code as ``python -m gvpconf_lab.netlab.faults --quick``: the lab up (every GVP pod in its namespace,
NetworkPolicies as iptables rules, the cluster resolver), a healthy run that must verify every connection,
then each quick fault injected, the whole suite run from every pod, the fault undone. Each must be detected
with its stated cause and nothing else may fail. Needs root, iproute2, iptables, dnsmasq and the lab's peers
(what ``make test`` installs): a missing one fails this test, never skips it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from gvpconf_lab.netlab import faults


def test_quick_faults_are_detected_with_their_cause_and_no_collateral(tmp_path: Path) -> None:
    chosen = faults.select([], quick=True)
    lines: list[str] = []
    verdicts = faults.run_catalog(chosen, tmp_path / "lab", report=tmp_path / "faults.md",
                                  junitxml=tmp_path / "faults.xml", log=lines.append)
    assert [v.fault.name for v in verdicts] == [f.name for f in chosen]
    assert any(line.startswith("healthy: ") and line.endswith("all passed") for line in lines), lines
    for v in verdicts:
        assert v.ok, (v.fault.name, v.problems, [c.text for c in v.collateral], v.run_errors)
        assert v.observed and not v.collateral
        assert v.time_to_verdict_s <= v.budget_s
    by_name = {v.fault.name: v for v in verdicts}
    # the MTU blackhole is named as such, with the size that failed and the largest that passed
    mtu = [c for c in by_name["mtu-blackhole-mcp"].observed if c.probe == "sipmtu.options"]
    assert mtu and all("MTU" in c.message and "largest that passed" in c.message for c in mtu)
    # the OPTIONS of ordinary size still passes over the same blackholed path: only the MTU probe sees it
    assert not [c for c in by_name["mtu-blackhole-mcp"].observed if c.probe == "sip.options"]
    md = (tmp_path / "faults.md").read_text()
    assert all(f"| {f.name} |" in md for f in chosen) and "collateral" in md
    suite = ET.parse(tmp_path / "faults.xml").getroot()
    assert suite.get("tests") == str(len(chosen)) and suite.get("failures") == "0"
    tag = lines[0].split()[2].rstrip(":")  # "netns lab <tag>: ..."
    assert not list(Path("/etc/netns").glob(f"gvpc-{tag}-*")), "the lab's resolv.conf files are left behind"
