"""#22  MCP pool multi-AZ -> Google API  ·  gRPC 443  ·  egress
GRPC messages. MCP connects to Google APIs for TTS service."""

from gvpconf.suite import connection, probe

pytestmark = connection(22)


@probe("grpc.tts_list_voices")
def test_texttospeech_list_voices_over_grpc(evidence, expect):
    """TLS + HTTP/2 + gRPC ListVoices: voices listed with credentials; without them, UNAUTHENTICATED proves
    the path, and the case says so (grpc.auth=unauthenticated-path-proven)."""
    assert evidence["tls.alpn"] == "h2"  # HTTP/2 negotiated in the TLS handshake, as gRPC requires
    assert evidence["grpc.status"] == "OK" or evidence["grpc.auth"] == "unauthenticated-path-proven"
    if evidence["grpc.auth"] == "authenticated" and expect.require_voices:
        assert evidence["tts.voices"] >= 1  # with our credentials, ListVoices lists voices
