"""Safe VoiceXML document check: parse with expat, refusing every entity declaration.

The parser is the standard library's expat with a guard in the style of defusedxml's
``forbid_entities``/``forbid_external``: any ``<!ENTITY ...>`` declaration (internal or external,
general or parameter) and any external entity reference stops parsing with ``VxmlError(kind="entity")``
before anything is expanded or fetched; parameter entities are never parsed and no DTD is loaded. So
neither an XXE (``SYSTEM "http://..."`` / ``"file:///..."``) nor an expansion bomb gets anywhere.

``parse(data)`` returns a :class:`VxmlDocument` (root ``vxml`` in the VoiceXML namespace, with a
``version``) or raises :class:`VxmlError` with a ``kind``: ``html`` (an HTML page), ``entity`` (an
entity declaration or external reference), ``not-xml`` (not well-formed), ``not-vxml`` (well-formed,
but not VoiceXML).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from xml.parsers import expat

from gvpconf.wire import WireError

VXML_NS = "http://www.w3.org/2001/vxml"
VERSIONS = ("2.0", "2.1", "3.0")
_SEP = "\x1f"

Kind = Literal["html", "entity", "not-xml", "not-vxml"]


class VxmlError(WireError):
    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class VxmlDocument:
    version: str
    namespace: str
    elements: int
    forms: int
    has_doctype: bool


class _Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def looks_like_html(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or (b"<html" in head[:256] and b"<vxml" not in head)


def parse(data: bytes) -> VxmlDocument:
    """Check ``data`` is a VoiceXML document, without expanding or fetching any entity."""
    if looks_like_html(data):
        raise VxmlError("html", "an HTML page, not VoiceXML")
    parser = expat.ParserCreate(namespace_separator=_SEP)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    state: dict[str, object] = {"root": None, "attrs": None, "elements": 0, "forms": 0, "doctype": False}

    def entity_decl(name: str, is_param: int, value: str | None, _base: str | None, system_id: str | None,
                    public_id: str | None, _notation: str | None) -> None:
        where = f"SYSTEM {system_id!r}" if system_id else (f"PUBLIC {public_id!r}" if public_id else "internal")
        kind = "parameter " if is_param else ""
        raise _Forbidden(f"the document declares {kind}entity {name!r} ({where}); entities are refused "
                         "(not expanded, not fetched)")

    def external_ref(_context: str, _base: str | None, system_id: str | None, _public_id: str | None) -> int:
        raise _Forbidden(f"the document references external entity {system_id!r}; refused, not fetched")

    def skipped(name: str, is_param: int) -> None:
        raise _Forbidden(f"the document references entity {name!r}, declared nowhere we read (an external "
                         "DTD is never loaded); refused")

    def doctype(name: str, _sys: str | None, _pub: str | None, _has_internal: int) -> None:
        state["doctype"] = True
        if name.lower() == "html":
            raise _Forbidden("html")

    def start(name: str, attrs: dict[str, str]) -> None:
        state["elements"] = int(str(state["elements"])) + 1
        if state["root"] is None:
            state["root"], state["attrs"] = name, attrs
        if name.rsplit(_SEP, 1)[-1] == "form":
            state["forms"] = int(str(state["forms"])) + 1

    parser.EntityDeclHandler = entity_decl
    parser.ExternalEntityRefHandler = external_ref
    parser.SkippedEntityHandler = skipped
    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except _Forbidden as exc:
        if exc.message == "html":
            raise VxmlError("html", "an HTML page (<!DOCTYPE html>), not VoiceXML") from None
        raise VxmlError("entity", exc.message) from None
    except expat.ExpatError as exc:
        raise VxmlError("not-xml", f"not well-formed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}, "
                        f"column {exc.offset}") from None
    root = state["root"]
    attrs = state["attrs"]
    assert isinstance(root, str) and isinstance(attrs, dict)
    ns, _, local = root.rpartition(_SEP)
    if local.lower() == "html":
        raise VxmlError("html", "an HTML (XHTML) page, not VoiceXML")
    if local != "vxml":
        raise VxmlError("not-vxml", f"expected root element <vxml>, got <{local}>")
    if ns != VXML_NS:
        got = f"namespace {ns!r}" if ns else "no namespace"
        raise VxmlError("not-vxml", f"expected <vxml> in the VoiceXML namespace {VXML_NS}, got {got}")
    version = attrs.get("version")
    if not version:
        raise VxmlError("not-vxml", "<vxml> has no version attribute")
    if version not in VERSIONS:
        raise VxmlError("not-vxml", f"unknown VoiceXML version {version!r} (expected one of {', '.join(VERSIONS)})")
    return VxmlDocument(version=version, namespace=ns, elements=int(str(state["elements"])),
                        forms=int(str(state["forms"])), has_doctype=bool(state["doctype"]))
