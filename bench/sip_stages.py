"""Where a SIP OPTIONS probe's time goes: the probe built up stage by stage against the bench responder.

    python bench/sip_stages.py [ROUNDS]

Each stage runs as the plugin runs a probe (``scheduler.run_job``: the Deadline, the ProbeContext, one memo for
the run), against the bench's SIP responder in a process of its own (the peer blackbox_exporter's SIP module probes
in ``bench.py``), the stages interleaved in batches so that the machine's load falls on all of them alike:

    raw     a bare client, no frame: socket, connect, a fixed OPTIONS, one recv, close
    frame   the same steps inside the plugin's frame (run_job, Deadline, ProbeContext)
    net     gvpconf.net instead: ctx.connect (deadline budgets, socket tracking, tcp.connect_ms), send_all, recv_some
    request + our request (the destination's OptionsTemplate, fresh ids)
    decode  + the response read by net.read_message with the SIP stream decoder (framing, RFC 3261 syntax)
    match   + the transaction match (RFC 3261 §17.1.3: Via branch, Call-ID, CSeq, From tag)
    probe   sip.options itself (+ its facts, transcript, status rule)

Prints each stage's median duration, the difference from the stage before, and the CPU time per probe of this
process (the harness included). Figures, not assertions.
"""

from __future__ import annotations

import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import ResponderProcess, bare, bare_sip, fixed_request, sip_contexts, timed_probe
from gvpconf import net, probes
from gvpconf.probes import sip as sip_probe
from gvpconf.probes.context import ProbeContext
from gvpconf.wire import sip

STAGES = ("raw", "frame", "net", "request", "decode", "match", "probe")


def staged(stage: str, host: str, port: int) -> Callable[[ProbeContext], None]:
    """A prober doing the probe's steps up to ``stage``."""
    level = STAGES.index(stage)

    def prober(ctx: ProbeContext) -> None:
        if stage == "frame":
            bare(host, port)
            return
        dl = ctx.deadline
        with ctx.connect() as sock:
            local = sock.getsockname()[:2]
            if level >= STAGES.index("request"):
                data, sent = sip_probe._request_bytes(ctx, local, "TCP")
            else:
                data = fixed_request(host, port, local)
            net.send_all(sock, data, dl, "sending OPTIONS")
            if level < STAGES.index("decode"):
                if not net.recv_some(sock, dl, "OPTIONS response").startswith(b"SIP/2.0 200"):
                    raise SystemExit("the responder did not answer 200")
                return
            msg = net.read_message(sock, sip.SipStreamDecoder(), dl, "OPTIONS response", protocol="SIP",
                                   malformed="malformed SIP response", check_start=sip_probe._CHECK_START,
                                   start_size=len(sip_probe.STATUS_PREFIX))
        if level >= STAGES.index("match") and (not isinstance(msg, sip.SipResponse) or sent.mismatches(msg)):
            raise SystemExit("the responder's answer does not match our OPTIONS")

    return prober


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    batch = 20
    with ResponderProcess(1) as responder:
        host, port = responder.host, responder.ports[0]
        # the stage probers, found by name as the scheduler finds every prober (a module of this process only)
        module = types.ModuleType("gvpconf.probes.benchstage")
        for stage in STAGES[1:-1]:
            setattr(module, f"probe_{stage}", staged(stage, host, port))
            probes.PROBES[f"benchstage.{stage}"] = "bench only"
        sys.modules[module.__name__] = module
        make = sip_contexts(host, port)

        def runner(stage: str) -> Callable[[], float]:
            if stage == "raw":
                return bare_sip(host, port)
            return timed_probe("sip.options" if stage == "probe" else f"benchstage.{stage}", make)

        runs = {stage: runner(stage) for stage in STAGES}
        durations: dict[str, list[float]] = {stage: [] for stage in STAGES}
        cpu = dict.fromkeys(STAGES, 0.0)
        for stage in STAGES:  # warm up; the destination's template made
            for _ in range(batch):
                runs[stage]()
        for n in range(rounds):
            for stage in STAGES[n % len(STAGES):] + STAGES[: n % len(STAGES)]:  # each stage first in turn
                started = time.thread_time()
                durations[stage] += [runs[stage]() for _ in range(batch)]
                cpu[stage] += time.thread_time() - started
    count = rounds * batch
    print(f"SIP OPTIONS over TCP, stage by stage: {count} probes per stage, batches of {batch} interleaved")
    print(f"{'stage':<8} {'median ms':>10} {'+ms':>7} {'CPU ms/probe':>13}")
    before: float | None = None
    for stage in STAGES:
        median = statistics.median(durations[stage]) * 1000
        step = "" if before is None else f"{median - before:+.3f}"
        print(f"{stage:<8} {median:>10.3f} {step:>7} {cpu[stage] / count * 1000:>13.3f}")
        before = median


if __name__ == "__main__":
    main()
