"""--plan prints what would be probed from this source and what each probe sends; it sends nothing."""

from __future__ import annotations

import copy
from pathlib import Path

from gvpconf_lab import Lab
from selftests.helpers import run_suite
from selftests.report.conftest import Flaky, target, write_yaml


def test_plan_sends_nothing(lab: Lab, tmp_path: Path) -> None:
    data = copy.deepcopy(lab.inventory())
    cfg_server, sip_server = Flaky(fail_first=0), Flaky(fail_first=0)
    with cfg_server as cfg_address, sip_server as sip_address:
        data["destinations"]["configserver"]["targets"] = [target(cfg_address, "cfg-0", "zone-a")]
        data["destinations"]["sip_server"]["targets"] = [target(sip_address, "sip-0")]
        inventory = write_yaml(tmp_path / "inventory.yaml", data)
        reports = tmp_path / "reports"
        run = run_suite(tmp_path, "--plan", "--source", "rm", "--gvp-reports", str(reports), inventory=inventory)
        assert cfg_server.accepted == 0 and sip_server.accepted == 0
    assert run.rc == 0, run.stdout + run.stderr
    out = run.stdout
    assert f"GVP plan: source rm, inventory {inventory} (sha256 " in out
    host, port = cfg_address
    assert (f"#2 RM pair multi-AZ -> GVP Config Server  TCP 8888  (intra)\n    cfg-0 ({host}:{port} zone zone-a): "
            "configserver.hold: sends nothing: connect and hold (read-only); 1 attempt") in out
    assert "sip-0 (" in out and "sends one out-of-dialog SIP OPTIONS (read-only)" in out
    assert "#8 not probed: not selected (--source rm)" in out
    assert "nothing was sent (--plan)" in out
    assert not reports.exists()
    assert run.cases == []
