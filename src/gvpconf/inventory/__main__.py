"""``python -m gvpconf.inventory (--schema | [--secrets] FILE)``."""

from gvpconf.inventory import main

main()
