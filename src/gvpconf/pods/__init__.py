"""Running the suite from the pods: source-role detection, Kubernetes discovery, the runner that fans out
per source role and zone and merges the JUnit reports, and the expected-deny matrix.

Modules::

    roles     ``--source auto``: the role from $GVP_SOURCE_ROLE, the downward-API labels, or the hostname
    deny      the connections NOT in the table, per source role, and the check that they are blocked
    model     SourcePod and RunOutcome
    junit     merging per-pod JUnit files into one report whose cases name pod and zone
    runner    pick a pod per role and zone, run everywhere within a deadline, merge (one tail for both runners)
    kube      Kubernetes discovery and the ephemeral-container / Job backend (official ``kubernetes`` client)
    secretmap the inventory's secret references mapped onto the target pod's own volumes and env
    entry     the container entrypoint: run the suite, print the JUnit report into the container's log
    capture   ``-p gvpconf.pods.capture``: the run's results.json into the entrypoint's in-memory file

The stand-in Kubernetes API server of the project's own tests is in the lab (``gvpconf_lab.standin_api``),
its kubelet the pod sandbox that executes the generated specs (``gvpconf_lab.netlab.sandbox``).
"""
