"""Make the codec test helpers (selftests/wire/wirehelp.py) importable here too."""

from __future__ import annotations

import sys
from pathlib import Path

_WIRE = str(Path(__file__).parents[1] / "wire")
if _WIRE not in sys.path:
    sys.path.insert(0, _WIRE)
