"""The VoiceXML check of ``http.vxml`` (gvpconf.vxml): real documents pass; HTML, entities of every kind,
malformed XML and other XML fail with their kind; nothing is ever fetched; arbitrary bytes give a document
or a VxmlError, nothing else."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf import vxml
from selftests.wire.wirehelp import WIRE_SETTINGS

NS = vxml.VXML_NS
W3C = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE vxml PUBLIC "-//W3C//DTD VOICEXML 2.1//EN" '
       b'"http://www.w3.org/TR/voicexml21/vxml.dtd">\n')
APP = (f'<vxml xmlns="{NS}" version="2.1" xml:lang="en-US"><form id="main"><block><prompt>Hello</prompt>'
       f'</block></form><form id="two"/></vxml>').encode()


@pytest.fixture
def watched() -> Iterator[tuple[str, socket.socket]]:
    """A loopback URL whose server counts connections: an entity fetch would show up as one."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.setblocking(False)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/canary", server


def never_connected(server: socket.socket) -> bool:
    try:
        conn, _addr = server.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


@pytest.mark.parametrize("data", [APP, W3C + APP, b"\xef\xbb\xbf" + APP], ids=["bare", "w3c-doctype", "bom"])
def test_voicexml_passes(data: bytes) -> None:
    doc = vxml.parse(data)
    assert (doc.version, doc.namespace, doc.forms) == ("2.1", NS, 2)
    assert doc.elements == 5
    assert doc.has_doctype == data.startswith(b"<?xml")


@pytest.mark.parametrize("data", [
    b"<!DOCTYPE html>\n<html><head><title>500</title></head><body><p>oops<br></body></html>",
    b"<html><body>Not Found</body></html>",
    b'<?xml version="1.0"?>\n<!-- ' + b"x" * 300 + b' -->\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
    b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<p>unclosed',
    b'<?xml version="1.0"?>\n<!-- ' + b"x" * 300 + b' -->\n<html xmlns="http://www.w3.org/1999/xhtml"/>',
], ids=["html5", "html", "xhtml-doctype", "xhtml-root"])
def test_html_is_html(data: bytes) -> None:
    with pytest.raises(vxml.VxmlError, match="HTML") as caught:
        vxml.parse(data)
    assert caught.value.kind == "html"


def test_external_entity_is_refused_and_never_fetched(watched: tuple[str, socket.socket]) -> None:
    url, server = watched
    for data in (
        f'<!DOCTYPE vxml [ <!ENTITY secret SYSTEM "{url}"> ]><vxml xmlns="{NS}" version="2.1">&secret;</vxml>',
        f'<!DOCTYPE vxml [ <!ENTITY % dtd SYSTEM "{url}"> %dtd; ]><vxml xmlns="{NS}" version="2.1"/>',
        f'<!DOCTYPE vxml SYSTEM "{url}"><vxml xmlns="{NS}" version="2.1">&defined_there;</vxml>',
        f'<!DOCTYPE vxml [ <!ENTITY logo SYSTEM "{url}" NDATA gif> ]><vxml xmlns="{NS}" version="2.1"/>',
    ):
        with pytest.raises(vxml.VxmlError, match="entit") as caught:
            vxml.parse(data.encode())
        assert caught.value.kind == "entity", caught.value
    assert never_connected(server)


def test_expansion_bomb_is_refused() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    data = f'<!DOCTYPE vxml [ <!ENTITY l0 "lol"> {lol} ]><vxml xmlns="{NS}" version="2.1">&l9;</vxml>'
    with pytest.raises(vxml.VxmlError, match="not expanded") as caught:
        vxml.parse(data.encode())
    assert caught.value.kind == "entity"


def test_undeclared_entity_is_refused() -> None:
    with pytest.raises(vxml.VxmlError, match="declared nowhere") as caught:
        vxml.parse(f'<vxml xmlns="{NS}" version="2.1">&nbsp;</vxml>'.encode())
    assert caught.value.kind == "entity"


@pytest.mark.parametrize(("data", "kind", "message"), [
    (b"", "not-xml", "not well-formed"),
    (b"<vxml", "not-xml", "line 1"),
    (f'<vxml xmlns="{NS}" version="2.1"><form></vxml>'.encode(), "not-xml", "mismatched tag"),
    (b'<?xml version="1.0" encoding="bogus"?><vxml/>', "not-xml", "unknown encoding"),
    (b'<?xml version="1.0" encoding="shift_jis"?><vxml/>', "not-xml", "multi-byte"),
    (b'<?xml version="1.0"?><config><a/></config>', "not-vxml", "<vxml>"),
    (f'<form xmlns="{NS}" version="2.1"><block/></form>'.encode(), "not-vxml", "root element <vxml>, got <form>"),
    (b'<vxml version="2.1"/>', "not-vxml", "no namespace"),
    (b'<vxml xmlns="urn:other" version="2.1"/>', "not-vxml", "urn:other"),
    (f'<vxml xmlns="{NS}"/>'.encode(), "not-vxml", "no version"),
    (f'<vxml xmlns="{NS}" version="1.0"/>'.encode(), "not-vxml", "unknown VoiceXML version"),
], ids=["empty", "cut", "mismatched", "unknown-encoding", "multibyte-encoding", "other-xml", "other-root-in-ns",
        "no-namespace",
        "other-namespace", "no-version", "version"])
def test_not_voicexml(data: bytes, kind: str, message: str) -> None:
    with pytest.raises(vxml.VxmlError, match=message) as caught:
        vxml.parse(data)
    assert caught.value.kind == kind
    assert "\n" not in str(caught.value)


@WIRE_SETTINGS
@given(st.binary(max_size=300) | st.builds(lambda a, b: a + b,
                                           st.sampled_from([APP[:40], W3C, b'<?xml version="1.0" encoding="']),
                                           st.binary(max_size=60)))
def test_arbitrary_bytes_are_a_document_or_a_vxml_error(data: bytes) -> None:
    with contextlib.suppress(vxml.VxmlError):
        vxml.parse(data)
