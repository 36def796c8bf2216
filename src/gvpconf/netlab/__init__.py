"""The network-namespace lab that plays the cluster: see ``gvpconf.netlab.lab`` and ``python -m gvpconf.netlab``."""

from gvpconf.netlab.lab import NetLab, Node, clean, topology
from gvpconf.netlab.netns import NetnsError

__all__ = ["NetLab", "NetnsError", "Node", "clean", "topology"]
