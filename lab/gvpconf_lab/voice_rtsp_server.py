# mypy: ignore-errors
"""The lab's Nuance RTSP side: GStreamer's RTSP server (gst-rtsp-server), run with Debian's /usr/bin/python3.

``voice_rtsp_server.py HOST PORT PATH``: serves ``rtsp://HOST:PORT/PATH``, a live 8 kHz PCMU stream
(audiotestsrc -> mulawenc -> rtppcmupay, pt 0, 20 ms packets). OPTIONS, DESCRIBE, SETUP (UDP
client_port), PLAY and TEARDOWN are GStreamer's own: a real RTSP/RTP stack, not a stand-in.
Imports only ``gi`` (python3-gst-1.0): it is not run by the project's venv.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = ("( audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 "
            "! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay0 pt=0 min-ptime=20000000 "
            "max-ptime=20000000 )")


def main() -> None:
    host, port, path = sys.argv[1], sys.argv[2], sys.argv[3]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(host)
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(False)
    server.get_mount_points().add_factory("/" + path.strip("/"), factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {host}:{port}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"rtsp://{host}:{port}/{path.strip('/')} ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
