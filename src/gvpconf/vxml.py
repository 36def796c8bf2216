"""Is this document VoiceXML? The check ``http.vxml`` (connections 12 and 20) makes of what it fetches.

Document logic, not a wire codec. The document is parsed with defusedxml's ElementTree parser, which
stops at the first entity declaration (internal or external, general or parameter: no expansion bomb)
and at any external entity reference (no XXE): nothing is expanded or fetched. Expat never loads an
external DTD, so a reference to an entity it would declare is refused as undeclared. A DOCTYPE without
entity declarations is fine: VoiceXML documents often name the W3C DTD.

``parse(data)`` returns a :class:`VxmlDocument` (root ``vxml`` in the VoiceXML namespace, with a known
``version``) or raises :class:`VxmlError` with a ``kind``: ``html`` (an HTML page, as a web server's
error page served with 200 is), ``entity`` (an entity declaration or reference, refused),
``not-xml`` (not well-formed), ``not-vxml`` (well-formed, but not VoiceXML).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from xml.etree.ElementTree import Element, ParseError
from xml.parsers import expat

from defusedxml import EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from gvpconf.rules import VOICEXML_VERSIONS

__all__ = ["VERSIONS", "VXML_NS", "VxmlDocument", "VxmlError", "looks_like_html", "parse"]

VXML_NS = "http://www.w3.org/2001/vxml"
VERSIONS = VOICEXML_VERSIONS

Kind = Literal["html", "entity", "not-xml", "not-vxml"]

_UNDEFINED_ENTITY = expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]


class VxmlError(ValueError):
    """The document is not VoiceXML; ``kind`` says what it is instead, ``str()`` says it in one line."""

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


class _HtmlDoctype(Exception):
    """Raised from the DOCTYPE handler: stop at ``<!DOCTYPE html>`` before parsing what follows."""


def looks_like_html(data: bytes) -> bool:
    """An HTML page, from its first bytes (an HTML5 page is rarely well-formed XML)."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or (b"<html" in head[:256] and b"<vxml" not in head)


def _local(tag: str) -> tuple[str, str]:
    """``{namespace}local`` -> (namespace, local)."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _tree(data: bytes) -> tuple[Element, str | None]:
    """The parsed root and the DOCTYPE's name; entities refused, nothing fetched."""
    parser = DefusedXMLParser(forbid_dtd=False, forbid_entities=True, forbid_external=True)
    doctype: list[str] = []

    def start_doctype(name: str, _sysid: str | None, _pubid: str | None, _internal: int) -> None:
        doctype.append(name)
        if name.lower() == "html":
            raise _HtmlDoctype

    parser.parser.StartDoctypeDeclHandler = start_doctype
    try:
        parser.feed(data)
        root = parser.close()
    except _HtmlDoctype:
        raise VxmlError("html", "an HTML page (<!DOCTYPE html>), not VoiceXML") from None
    except EntitiesForbidden as exc:
        where = f"SYSTEM {exc.sysid!r}" if exc.sysid else (f"PUBLIC {exc.pubid!r}" if exc.pubid else "internal")
        raise VxmlError("entity", f"the document declares entity {exc.name!r} ({where}); entities are refused "
                        "(not expanded, not fetched)") from None
    except ExternalReferenceForbidden as exc:
        raise VxmlError("entity", f"the document references external entity {exc.sysid!r}; refused, not "
                        "fetched") from None
    except ParseError as exc:
        line, column = exc.position
        if exc.code == _UNDEFINED_ENTITY:
            raise VxmlError("entity", f"the document references an entity declared nowhere we read (an external "
                            f"DTD is never loaded) at line {line}, column {column}; refused") from None
        raise VxmlError("not-xml", f"not well-formed XML: {expat.ErrorString(exc.code)} at line {line}, "
                        f"column {column}") from None
    except (LookupError, ValueError) as exc:  # an encoding declaration Python has no (single-byte) codec for
        raise VxmlError("not-xml", f"not readable XML: {exc}") from None
    return root, doctype[0] if doctype else None


def parse(data: bytes) -> VxmlDocument:
    """Check ``data`` is a VoiceXML document, without expanding or fetching any entity."""
    if looks_like_html(data):
        raise VxmlError("html", "an HTML page, not VoiceXML")
    root, doctype = _tree(data)
    namespace, local = _local(root.tag)
    if local.lower() == "html":
        raise VxmlError("html", "an HTML (XHTML) page, not VoiceXML")
    if local != "vxml":
        raise VxmlError("not-vxml", f"expected root element <vxml>, got <{local}>")
    if namespace != VXML_NS:
        got = f"namespace {namespace!r}" if namespace else "no namespace"
        raise VxmlError("not-vxml", f"expected <vxml> in the VoiceXML namespace {VXML_NS}, got {got}")
    version = root.get("version")
    if not version:
        raise VxmlError("not-vxml", "<vxml> has no version attribute")
    if version not in VERSIONS:
        raise VxmlError("not-vxml", f"unknown VoiceXML version {version!r} (expected one of {', '.join(VERSIONS)})")
    elements = list(root.iter())
    forms = sum(1 for element in elements if _local(element.tag)[1] == "form")
    return VxmlDocument(version=version, namespace=namespace, elements=len(elements), forms=forms,
                        has_doctype=doctype is not None)
