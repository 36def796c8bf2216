"""The network-namespace lab that plays the cluster: ``gvpconf_lab.netlab.lab``, ``python -m gvpconf_lab.netlab``."""

from gvpconf_lab.netlab.lab import NetLab, Node, clean, topology
from gvpconf_lab.netlab.netns import NetnsError

__all__ = ["NetLab", "NetnsError", "Node", "clean", "topology"]
