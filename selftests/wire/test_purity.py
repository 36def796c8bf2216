"""The codecs are sans-I/O: no module under gvpconf/wire imports sockets, clocks or logging."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

import gvpconf.wire
from gvpconf.wire import BufferedDecoder, WireError, grpc, http2, openwire, rtsp, sip, stomp, tds
from selftests.wire.wirehelp import check_frozen_slotted, message_classes

FORBIDDEN = {"socket", "ssl", "time", "logging", "asyncio", "select", "selectors", "importlib"}
WIRE_DIR = Path(gvpconf.wire.__file__).parent
MODULES = sorted(WIRE_DIR.glob("*.py"))


def imported_modules(source: str) -> set[str]:
    """Top-level names of every module imported anywhere in ``source`` (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            names.add("__import__")
    return names


def test_scanner_sees_every_import_form() -> None:
    source = "import os.path\nimport socket as s\ndef f():\n    from time import sleep\n__import__('ssl')\n"
    assert imported_modules(source) == {"os", "socket", "time", "__import__"}


def test_all_wire_modules_are_scanned() -> None:
    assert {p.stem for p in MODULES} >= {"__init__", "sip", "stomp", "openwire", "banner", "postgres"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_io_imports(path: Path) -> None:
    found = imported_modules(path.read_text(encoding="utf-8"))
    assert not found & (FORBIDDEN | {"__import__"}), f"{path.name} imports {sorted(found & FORBIDDEN)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_modules_have_docstrings(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))


CODECS = [importlib.import_module(f"gvpconf.wire.{path.stem}") for path in MODULES if path.stem != "__init__"]


@pytest.mark.parametrize("cls", message_classes(*CODECS), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_messages_are_frozen_slotted_dataclasses(cls: type) -> None:
    """Every dataclass of every codec module, found by inspection: a new message cannot be left out."""
    check_frozen_slotted(cls)


def test_the_message_check_sees_the_messages() -> None:
    found = set(message_classes(*CODECS))
    assert {sip.SipRequest, stomp.Frame, openwire.WireFormatInfo, rtsp.RtspResponse, tds.Prelogin} <= found


def test_single_base_error() -> None:
    assert issubclass(WireError, ValueError)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stomp.Frame("SEND").command = "ACK"  # type: ignore[misc]


DECODERS = [sip.SipStreamDecoder, rtsp.RtspStreamDecoder, stomp.StompDecoder, openwire.OpenWireDecoder,
            tds.MessageDecoder, grpc.MessageDecoder, http2.FrameDecoder]


@pytest.mark.parametrize("cls", DECODERS, ids=lambda c: c.__name__)
def test_one_decoder_interface(cls: type[BufferedDecoder[object]]) -> None:
    """Every stream decoder is fed with ``feed`` and asked with ``next_message``: None until a whole message."""
    decoder = cls()
    decoder.feed(b"")
    assert decoder.next_message() is None
    assert not {"next_frame", "next_packet"} & set(dir(decoder))


def test_every_decoder_is_listed() -> None:
    found = {obj for module in (sip, rtsp, stomp, openwire, tds, grpc, http2) for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, BufferedDecoder) and obj.__module__ == module.__name__}
    assert found == set(DECODERS)
