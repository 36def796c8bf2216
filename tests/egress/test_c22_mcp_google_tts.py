"""#22  MCP pool multi-AZ -> Google API  ·  gRPC 443  ·  egress
GRPC messages. MCP connects to Google APIs for TTS service."""

from gvpconf.suite import connection, probe

pytestmark = connection(22)


@probe("grpc.tts_list_voices")
def test_texttospeech_list_voices_over_grpc(evidence):
    """TLS + HTTP/2 + gRPC ListVoices: voices listed with credentials; without them, UNAUTHENTICATED proves
    the path and is reported as grpc.auth=unauthenticated-path-proven, never as a plain pass."""
    assert evidence["tls.alpn"] == "h2"
    assert (evidence["grpc.status"], evidence["grpc.auth"]) in {
        ("OK", "authenticated"), ("OK", "not required"), ("UNAUTHENTICATED", "unauthenticated-path-proven")}
