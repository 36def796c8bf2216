"""``python -m gvpconf.pods``: run the suite from the pods of a cluster, or tell this pod's role.

* ``run``: discover the GVP pods (official ``kubernetes`` client), pick one pod per source role and
  zone, run the suite in each as an ephemeral container (or a Job on the same node), merge the JUnit
  reports into one (every case names its pod and zone). Exit 0 only if every run ran and nothing failed.
* ``detect``: print the role ``--source auto`` resolves to here, and how.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from gvpconf.pods import quantity, roles, runner
from gvpconf.pods.model import RunOutcome, SourcePod

PROG = "python -m gvpconf.pods"


def _selector(text: str) -> tuple[str, str, str | None, str | None]:
    """``ROLE[:NAMESPACE]=SELECTOR[@SERVICE]``."""
    head, sep, rest = text.partition("=")
    role, _, namespace = head.partition(":")
    if not sep or role not in runner.POD_ROLES:
        raise argparse.ArgumentTypeError(f"want ROLE[:NAMESPACE]=SELECTOR[@SERVICE] with ROLE in "
                                         f"{', '.join(runner.POD_ROLES)}")
    sel, _, svc = rest.partition("@")
    return role, sel, svc or None, namespace or None


def kube_defaults() -> tuple[str, str]:
    """The default ``--job-requests`` and ``--job-limits`` (``quantity.JOB_RESOURCES``) as option text."""
    req, lim = (",".join(f"{k}={v}" for k, v in quantity.JOB_RESOURCES[key].items()) for key in ("requests", "limits"))
    return req, lim


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run the GVP conformance suite from the pods.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("detect", help="print the role --source auto resolves to")
    run = sub.add_parser("run", help="fan out per role and zone, merge the JUnit reports")
    run.add_argument("--namespace", required=True, help="the GVP namespace")
    run.add_argument("--image", required=True, help="the gvpconf image (deploy/Containerfile, target probe)")
    run.add_argument("--inventory", required=True, help="the inventory YAML (no secret values: references)")
    runner.add_run_options(run, run_timeout=300.0, total_timeout=1200.0, parallel=4)
    run.add_argument("--roles", default=",".join(r for r in runner.roles_with_connections()),
                     help="source roles to run from (comma-separated)")
    run.add_argument("--selector", type=_selector, action="append", default=[],
                     help="ROLE[:NAMESPACE]=LABEL_SELECTOR[@SERVICE] (repeatable) to override the default "
                          "selectors, e.g. prometheus:monitoring=app.kubernetes.io/name=prometheus")
    run.add_argument("--no-job-fallback", action="store_true",
                     help="fail instead of running a Job where ephemeral containers are refused")
    req, lim = kube_defaults()
    run.add_argument("--job-requests", default=req, metavar="NAME=QTY,...",
                     help=f"the probe container's requests in a Job (default {req}); none in an ephemeral container, "
                          "which is charged to the pod it joins")
    run.add_argument("--job-limits", default=lim, metavar="NAME=QTY,...",
                     help=f"the probe container's limits in a Job (default {lim}; '' for none)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    where.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    where.add_argument("--api-url", help="API server URL without auth (tests' stand-in)")
    run.add_argument("--context", help="kubeconfig context")
    return parser


def read_inventory(path: str) -> dict[str, Any]:
    """The inventory, validated with the suite's own loader before anything is created. Raises InventoryError."""
    from gvpconf.inventory import InventoryError, load

    load(path)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):  # pragma: no cover - load() said so already
        raise InventoryError(f"{path}: not a mapping")
    return data


def cmd_run(args: argparse.Namespace) -> int:
    from gvpconf.inventory import InventoryError
    from gvpconf.pods import kube

    roles_wanted = [r for r in args.roles.split(",") if r]
    unknown = [r for r in roles_wanted if r not in runner.POD_ROLES]
    if unknown:
        print(f"{PROG}: --roles: {', '.join(unknown)} not a pod role ({', '.join(runner.POD_ROLES)})", file=sys.stderr)
        return 2
    selectors = {r: kube.DEFAULT_SELECTORS[r] for r in roles_wanted if r in kube.DEFAULT_SELECTORS}
    for role, sel, svc, namespace in args.selector:
        selectors[role] = kube.RoleSelector(role, sel, svc, namespace)
    try:
        inventory = read_inventory(args.inventory)
        options = runner.suite_options(args)
        job_resources = quantity.resources(args.job_requests, args.job_limits)
    except (InventoryError, ValueError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    problem = runner.check_writable(args.junitxml, args.reports)
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    with runner.interruptible() as stop:
        found = _discover(args, selectors, stop)
        if isinstance(found, RunOutcome):  # the API server could not be used, or the runner was interrupted
            unrun = [RunOutcome(SourcePod(role=r, pod=f"<{r} pods>", location=args.namespace),
                                error=found.error, cause=found.cause, backend="kubernetes") for r in selectors]
            code = runner.finish(unrun, args.junitxml, reports=args.reports, prog=PROG)
            return runner.INTERRUPTED if stop.is_set() else code
        api, pods = found
        inventory = kube.with_discovered_targets(inventory, pods)
        backend = kube.KubernetesBackend(api, args.image, yaml.safe_dump(inventory, sort_keys=False),
                                         allow_job=not args.no_job_fallback, inline_files=options.files,
                                         inventory_name=f"{args.inventory} (sent by the runner)",
                                         job_resources=job_resources)
        plan = runner.with_ingress_runs(runner.pick_per_zone(pods, list(selectors)),
                                        calls=runner.calls_opted_in(inventory, options.args))
        missing_roles = [r for r in selectors if not any(p.role == r for p in pods)]

        absent = [RunOutcome(SourcePod(role=r, pod=f"<no {r} pod>", location=args.namespace),
                             error=f"no pod matches {selectors[r].label_selector!r} in "
                                   f"{selectors[r].namespace or args.namespace}",
                             cause="not-running", backend=backend.name) for r in missing_roles]
        outcomes = absent + runner.run_all(backend, plan, deny_matrix=args.deny_matrix,
                                           run_timeout=args.run_timeout, total_timeout=args.total_timeout,
                                           parallel=args.parallel, extra=options.args, stop=stop,
                                           stop_grace=args.stop_grace)
        notes = sorted({f"{o.source.where}: {n}" for o in outcomes for n in o.notes})
        left = list(backend.left_behind)
        code = runner.finish(outcomes, args.junitxml, reports=args.reports, prog=PROG, baseline=args.gvp_baseline,
                             notes=notes, left_behind=left)
        for note in notes:
            print(f"note: {note}")
        for line in left:
            print(f"left behind: {line}")
        return runner.INTERRUPTED if stop.is_set() else code


def _discover(args: argparse.Namespace, selectors: dict[str, Any],
              stop: threading.Event) -> tuple[Any, list[SourcePod]] | RunOutcome:
    """The API client and the discovered pods; or, when the API server cannot be used or a SIGINT/SIGTERM
    came first, a RunOutcome holding the one line and the cause (printed here). Discovery runs in a daemon
    thread so that an interrupt does not wait for the API server's answer (each request is bounded anyway)."""
    from gvpconf.pods import kube

    box: list[Any] = []

    def work() -> None:
        try:
            api = kube.make_api_client(host=args.api_url, kubeconfig=args.kubeconfig, context=args.context,
                                       in_cluster=args.in_cluster)
            box.append((api, kube.discover(api, args.namespace, selectors)))
        except Exception as exc:  # ApiException, ConfigException, urllib3's HTTPError, OSError, YAMLError...
            box.append(exc)

    worker = threading.Thread(target=work, name="gvpconf-discovery", daemon=True)
    worker.start()
    while worker.is_alive() and not stop.is_set():
        worker.join(0.1)
    if not box:
        line = "interrupted during discovery: nothing was run"
        print(f"{PROG}: {line}", file=sys.stderr)
        return RunOutcome(SourcePod(role="-", pod="-"), error=line, cause="interrupted")
    result = box[0]
    if isinstance(result, BaseException):
        from gvpconf.pods.kube import api_failure

        cause, line = api_failure(result)
        print(f"{PROG}: {line} ({cause}); nothing was run", file=sys.stderr)
        return RunOutcome(SourcePod(role="-", pod="-"), error=f"not run: {line}", cause=cause)
    api, pods = result
    return api, list(pods)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "detect":
        try:
            found = roles.detect()
        except roles.RoleError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
        print(f"{found.role} ({found.how})")
        return 0
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
