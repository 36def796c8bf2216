"""#12  MCP pool multi-AZ -> DAS  ·  HTTP/HTTPS 80  ·  egress
HTTP messages. MCP connects to DAS to fetch vxml applications."""

from gvpconf.suite import VOICEXML_VERSIONS, connection, probe

pytestmark = connection(12)


@probe("http.vxml")
def test_das_serves_voicexml_applications(evidence, expect):
    """Every configured application URL returns 200 and a body that parses safely as VoiceXML 2.0/2.1/3.0."""
    assert evidence["vxml.parsed"] == len(expect.applications)
    assert set(evidence["vxml.version"].split(", ")) <= VOICEXML_VERSIONS
    if expect.proxy:  # through the MCP's fetch proxy: evidence a proxy forwarded it (its Via, RFC 9110 §7.6.3)
        assert evidence["http.proxy_via"]
