"""GVP connectivity conformance suite.

Layers (each importable on its own, lower layers never import higher ones)::

    wire/      pure encode/decode of the protocols (no sockets, no clocks, no logging)
    errors     ProbeFailure and the fixed set of causes
    deadline   one timeout object per probe, turned into one deadline
    net        socket helpers that take their time from the deadline and map OS errors to causes
    probes/    one prober per protocol, one signature, one registry
    catalog    the 22 connections of the GVP architecture page, as data
    inventory  the validated YAML describing a deployment's targets
    plugin     pytest glue (options, markers, parametrization, JUnit properties, summary)
    lab/       real peers and impostors for the project's own tests
"""

__version__ = "0.1.0"
