"""GVP connectivity conformance suite. PYTEST_DONT_REWRITE (no test assertions here: see gvpconf.plugin)

Layers (each importable on its own, lower layers never import higher ones)::

    wire/      pure encode/decode of the protocols (no sockets, no clocks, no logging)
    errors     ProbeFailure and the fixed set of causes
    deadline   one timeout object per probe, turned into one deadline
    net        socket helpers that take their time from the deadline and map OS errors to causes
    catalog    the 22 connections of the GVP architecture page, as data
    inventory  the validated YAML describing a deployment's targets (one tls model)
    rules      the conformance rules: probers apply them, the modules under tests/ state them
    probes/    one prober per protocol, one signature, one registry
    plugin/    pytest glue around one session object, loaded by the pytest11 entry point
    suite      what a conformance module imports
    report/    the reports; pods/ running from the pods

The lab (real peers, stand-ins, impostors) is another distribution, ``gvpconf_lab`` (lab/): never shipped.
"""

__version__ = "0.1.0"
