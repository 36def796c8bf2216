"""#20  MCP pool multi-AZ -> Web server  ·  HTTP/HTTPS 80  ·  egress
HTTP messages. MCP connects to web server to fetch vxml applications."""

from gvpconf.suite import VOICEXML_VERSIONS, connection, probe

pytestmark = connection(20)


@probe("http.vxml")
def test_web_server_serves_voicexml_applications(evidence, expect):
    """Every configured application URL returns 200 and a body that parses safely as VoiceXML 2.0/2.1/3.0."""
    assert evidence["vxml.parsed"] == len(expect.applications)
    assert set(evidence["vxml.version"].split(", ")) <= VOICEXML_VERSIONS
