"""TDS, the Tabular Data Stream protocol of Microsoft SQL Server ([MS-TDS], TDS 7.x).

Section numbers below are those of [MS-TDS]. What is here:

* packets (§2.2.3.1): an 8-byte header (type, status, big-endian length including the header,
  SPID, packet id, window) and a payload; a message is one or more packets, the last with the
  EOM status bit. ``MessageDecoder`` reads whole messages;
* PRELOGIN (§2.2.6.5): an option table (token, big-endian offset, big-endian length, ended by
  0xFF) then the option data: VERSION (major, minor, build, sub-build), ENCRYPTION, INSTOPT,
  THREADID, MARS. The client sends it first; the server answers with its own in a type-4 packet;

What a probe needs and nothing more: the login itself is pymssql's. LOGIN7, SQL batches and the
result tokens, which only the lab's SQL Server stand-in uses, are in ``gvpconf_lab.tds``.

Pure: no sockets, no clocks. Messages are frozen dataclasses validated when built; decoders
return ``None`` when they need more bytes and raise only ``WireError``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from gvpconf.wire import BufferedDecoder, WireError
from gvpconf.wire.banner import describe, identify

__all__ = [
    "HEADER_SIZE",
    "KNOWN_PACKET_TYPES",
    "MAX_MESSAGE_SIZE",
    "MAX_PACKETS",
    "Encryption",
    "Message",
    "MessageDecoder",
    "Packet",
    "PacketType",
    "Prelogin",
    "encode_message",
    "encode_packet",
    "encode_prelogin",
    "parse_prelogin",
]

HEADER_SIZE = 8
MAX_PACKET_SIZE = 32767  # §2.2.6.4 PacketSize: at most 32767 bytes
MAX_MESSAGE_SIZE = 4 * 1024 * 1024  # a limit of ours: no message a probe or the stand-in needs is larger
# A limit of ours too: a message of MAX_MESSAGE_SIZE in 4096-byte packets (the usual size) takes 1027; without
# it, header-only packets that never set EOM would make a message that never ends and never counts a byte.
MAX_PACKETS = 4096

STATUS_EOM = 0x01
_STATUS_BITS = 0x01 | 0x02 | 0x08 | 0x10  # EOM, IGNORE, RESETCONNECTION, RESETCONNECTIONSKIPTRAN


class PacketType(enum.IntEnum):
    """§2.2.3.1.1 packet types."""

    SQL_BATCH = 0x01
    PRE_TDS7_LOGIN = 0x02
    RPC = 0x03
    RESPONSE = 0x04  # "tabular result": every server message, PRELOGIN answer included
    ATTENTION = 0x06
    BULK_LOAD = 0x07
    FEDAUTH_TOKEN = 0x08
    TRANSACTION_MANAGER = 0x0E
    LOGIN7 = 0x10
    SSPI = 0x11
    PRELOGIN = 0x12


KNOWN_PACKET_TYPES = frozenset(int(t) for t in PacketType)


def _u8(v: int, what: str) -> int:
    if not 0 <= v <= 0xFF:
        raise WireError(f"{what} must fit in one byte, got {v}")
    return v


def _u16(v: int, what: str) -> int:
    if not 0 <= v <= 0xFFFF:
        raise WireError(f"{what} must fit in 16 bits, got {v}")
    return v


def _u32(v: int, what: str) -> int:
    if not 0 <= v <= 0xFFFFFFFF:
        raise WireError(f"{what} must fit in 32 bits, got {v}")
    return v


# -- packets ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Packet:
    """One TDS packet (§2.2.3.1)."""

    type: int
    payload: bytes = b""
    status: int = STATUS_EOM
    spid: int = 0
    packet_id: int = 1
    window: int = 0

    def __post_init__(self) -> None:
        if self.type not in KNOWN_PACKET_TYPES:
            raise WireError(f"unknown TDS packet type 0x{self.type:02x}")
        if self.status & ~_STATUS_BITS or not 0 <= self.status <= 0xFF:
            raise WireError(f"invalid TDS packet status 0x{self.status:02x}")
        _u16(self.spid, "SPID")
        _u8(self.packet_id, "packet id")
        _u8(self.window, "window")
        if len(self.payload) + HEADER_SIZE > 0xFFFF:
            raise WireError(f"a TDS packet holds at most {0xFFFF - HEADER_SIZE} payload bytes, "
                            f"got {len(self.payload)}")

    @property
    def eom(self) -> bool:
        return bool(self.status & STATUS_EOM)


def encode_packet(packet: Packet) -> bytes:
    return struct.pack(">BBHHBB", packet.type, packet.status, len(packet.payload) + HEADER_SIZE,
                       packet.spid, packet.packet_id, packet.window) + packet.payload


def encode_message(type: int, payload: bytes, packet_size: int = 4096, spid: int = 0) -> bytes:
    """``payload`` as one message: packets of at most ``packet_size`` bytes, the last one EOM."""
    if not HEADER_SIZE < packet_size <= 0xFFFF:
        raise WireError(f"packet size must be between 9 and 65535, got {packet_size}")
    room = packet_size - HEADER_SIZE
    parts = [payload[i:i + room] for i in range(0, len(payload), room)] or [b""]
    out = bytearray()
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        out += encode_packet(Packet(type, part, STATUS_EOM if last else 0, spid, (n + 1) % 256))
    return bytes(out)


def _not_tds(data: bytes, why: str) -> WireError:
    kind = identify(data)
    what = f" (it looks like {kind})" if kind else ""
    return WireError(f"not a TDS packet{what}: {why}: {describe(data)}")


def _take_packet(buf: bytearray) -> Packet | None:
    """Cut the first whole packet off ``buf``; None when it holds none yet. Rejects a non-TDS peer as soon
    as its first bytes say so."""
    if buf and buf[0] not in KNOWN_PACKET_TYPES:
        raise _not_tds(bytes(buf[:HEADER_SIZE * 4]), f"unknown packet type 0x{buf[0]:02x}")
    if len(buf) >= 2 and (buf[1] & ~_STATUS_BITS):
        raise _not_tds(bytes(buf[:HEADER_SIZE * 4]), f"invalid status 0x{buf[1]:02x}")
    if len(buf) < HEADER_SIZE:
        return None
    ptype, status, length, spid, packet_id, window = struct.unpack_from(">BBHHBB", buf)
    if length < HEADER_SIZE:
        raise _not_tds(bytes(buf[:HEADER_SIZE * 4]), f"length {length} is shorter than the header")
    if len(buf) < length:
        return None
    payload = bytes(buf[HEADER_SIZE:length])
    del buf[:length]
    return Packet(ptype, payload, status, spid, packet_id, window)


@dataclass(frozen=True, slots=True)
class Message:
    """A whole TDS message: the payloads of its packets joined."""

    type: int
    payload: bytes
    spid: int = 0

    def __post_init__(self) -> None:
        if self.type not in KNOWN_PACKET_TYPES:
            raise WireError(f"unknown TDS message type 0x{self.type:02x}")


class MessageDecoder(BufferedDecoder[Message]):
    """Incremental message reader: joins packets up to the EOM one. ``feed``, then ``next_message()``.

    A message may be at most ``max_message_size`` bytes on the wire, packet headers included
    (``MAX_MESSAGE_SIZE``, 4 MB), in at most ``max_packets`` packets (``MAX_PACKETS``); past either it
    is a WireError. A packet is at most 65535 bytes by its 16-bit length, and is buffered only until
    it is whole.
    """

    def __init__(self, *, max_message_size: int = MAX_MESSAGE_SIZE, max_packets: int = MAX_PACKETS) -> None:
        super().__init__(max_message_size=max_message_size)
        self.max_packets = max_packets
        self._parts: list[bytes] = []
        self._type: int | None = None
        self._size = 0  # bytes on the wire of the message so far, headers included

    def _next(self) -> Message | None:
        while (packet := _take_packet(self._buffer)) is not None:
            if self._type is None:
                self._type = packet.type
            elif packet.type != self._type:
                raise WireError(f"packet of type 0x{packet.type:02x} inside a message of type 0x{self._type:02x}")
            self._parts.append(packet.payload)
            self._size += HEADER_SIZE + len(packet.payload)
            if self._size > self.max_message_size:
                raise WireError(f"TDS message larger than {self.max_message_size} bytes")
            if packet.eom:
                msg = Message(self._type, b"".join(self._parts), packet.spid)
                self._parts, self._type, self._size = [], None, 0
                return msg
            if len(self._parts) >= self.max_packets:
                raise WireError(f"TDS message of more than {self.max_packets} packets without an end-of-message "
                                f"packet ({self._size} bytes so far)")
        return None


# -- PRELOGIN -----------------------------------------------------------------------------------------

class Encryption(enum.IntEnum):
    """§2.2.6.5 ENCRYPTION option values."""

    OFF = 0x00  # available, off: only the login packet is encrypted
    ON = 0x01  # available and on
    NOT_SUP = 0x02  # not available
    REQ = 0x03  # required


_PL_VERSION, _PL_ENCRYPTION, _PL_INSTOPT, _PL_THREADID, _PL_MARS = 0x00, 0x01, 0x02, 0x03, 0x04
_PL_TERMINATOR = 0xFF
_PL_KNOWN = frozenset({_PL_VERSION, _PL_ENCRYPTION, _PL_INSTOPT, _PL_THREADID, _PL_MARS})


@dataclass(frozen=True, slots=True)
class Prelogin:
    """A PRELOGIN message (client request or server answer).

    ``version`` is (major, minor, build, sub-build); ``encryption`` an ``Encryption`` value (the
    client-certificate bit 0x80 may be set); ``instance`` the INSTOPT bytes (without the NUL, None
    when the option is absent); ``other`` keeps options this codec does not interpret (TRACEID,
    FEDAUTHREQUIRED, NONCEOPT...) as (token, data), in order.
    """

    version: tuple[int, int, int, int]
    encryption: int = Encryption.OFF
    instance: bytes | None = b""
    thread_id: int | None = None
    mars: bool | None = False
    other: tuple[tuple[int, bytes], ...] = ()

    def __post_init__(self) -> None:
        if len(self.version) != 4:
            raise WireError(f"PRELOGIN version is (major, minor, build, sub-build), got {self.version!r}")
        major, minor, build, sub = self.version
        _u8(major, "major version")
        _u8(minor, "minor version")
        _u16(build, "build number")
        _u16(sub, "sub-build number")
        if self.encryption & 0x7F not in (0, 1, 2, 3) or self.encryption & ~0xFF:
            raise WireError(f"invalid PRELOGIN encryption value 0x{self.encryption:02x}")
        if self.instance is not None and b"\x00" in self.instance:
            raise WireError("PRELOGIN instance name must not contain NUL")
        if self.thread_id is not None:
            _u32(self.thread_id, "thread id")
        seen: set[int] = set()
        for token, _data in self.other:
            if token in _PL_KNOWN or token == _PL_TERMINATOR or not 0 <= token <= 0xFF or token in seen:
                raise WireError(f"PRELOGIN option 0x{token:02x} cannot be an 'other' option (known, repeated "
                                "or not a byte)")
            seen.add(token)

    @property
    def version_text(self) -> str:
        major, minor, build, sub = self.version
        return f"{major}.{minor}.{build}" + (f".{sub}" if sub else "")

    @property
    def encryption_name(self) -> str:
        return Encryption(self.encryption & 0x7F).name


def encode_prelogin(p: Prelogin) -> bytes:
    """The PRELOGIN payload (option table, then data)."""
    options: list[tuple[int, bytes]] = [
        (_PL_VERSION, struct.pack(">BBHH", *p.version)),
        (_PL_ENCRYPTION, bytes([p.encryption])),
    ]
    if p.instance is not None:
        options.append((_PL_INSTOPT, p.instance + b"\x00"))
    if p.thread_id is not None:
        options.append((_PL_THREADID, struct.pack(">I", p.thread_id)))
    if p.mars is not None:
        options.append((_PL_MARS, b"\x01" if p.mars else b"\x00"))
    options.extend(p.other)
    offset = len(options) * 5 + 1
    table, data = bytearray(), bytearray()
    for token, value in options:
        if len(value) > 0xFFFF or offset + len(data) > 0xFFFF:  # both are USHORTs ([MS-TDS] 2.2.6.5)
            raise WireError(f"PRELOGIN option 0x{token:02x} is too long ({len(value)} bytes at offset "
                            f"{offset + len(data)})")
        table += struct.pack(">BHH", token, offset + len(data), len(value))
        data += value
    return bytes(table) + bytes([_PL_TERMINATOR]) + bytes(data)


def parse_prelogin(payload: bytes) -> Prelogin:
    """Parse a PRELOGIN payload. VERSION and ENCRYPTION are required (every server sends them)."""
    options: dict[int, bytes] = {}
    order: list[int] = []
    pos = 0
    while True:
        if pos >= len(payload):
            raise WireError(f"PRELOGIN option table without its 0xFF terminator: {describe(payload)}")
        token = payload[pos]
        if token == _PL_TERMINATOR:
            table_end = pos + 1
            break
        if pos + 5 > len(payload):
            raise WireError(f"PRELOGIN option table cut short: {describe(payload)}")
        _t, offset, length = struct.unpack_from(">BHH", payload, pos)
        pos += 5
        if token in options:
            raise WireError(f"PRELOGIN option 0x{token:02x} appears twice")
        options[token] = b""
        order.append(token)
        options[token] = struct.pack(">HH", offset, length)  # resolved below, once the table's end is known
    for token in order:
        offset, length = struct.unpack(">HH", options[token])
        if offset < table_end or offset + length > len(payload):
            raise WireError(f"PRELOGIN option 0x{token:02x} points outside the message "
                            f"(offset {offset}, length {length}, message {len(payload)} bytes)")
        options[token] = payload[offset:offset + length]
    if _PL_VERSION not in options:
        raise WireError("PRELOGIN without a VERSION option")
    if len(options[_PL_VERSION]) != 6:
        raise WireError(f"PRELOGIN VERSION must be 6 bytes, got {len(options[_PL_VERSION])}")
    version = struct.unpack(">BBHH", options[_PL_VERSION])
    if _PL_ENCRYPTION not in options or len(options[_PL_ENCRYPTION]) != 1:
        raise WireError("PRELOGIN without a one-byte ENCRYPTION option")
    instance: bytes | None = None
    if _PL_INSTOPT in options:
        raw = options[_PL_INSTOPT]
        instance = raw[:-1] if raw.endswith(b"\x00") else raw
        if b"\x00" in instance:
            raise WireError("PRELOGIN INSTOPT has a NUL before its end")
    thread_id: int | None = None
    if _PL_THREADID in options:
        raw = options[_PL_THREADID]
        if len(raw) not in (0, 4):
            raise WireError(f"PRELOGIN THREADID must be 0 or 4 bytes, got {len(raw)}")
        thread_id = struct.unpack(">I", raw)[0] if raw else None
    mars: bool | None = None
    if _PL_MARS in options:
        raw = options[_PL_MARS]
        if len(raw) != 1 or raw[0] > 1:
            raise WireError(f"PRELOGIN MARS must be one byte 0 or 1, got {raw!r}")
        mars = raw == b"\x01"
    other = tuple((t, options[t]) for t in order if t not in _PL_KNOWN)
    return Prelogin(version=(version[0], version[1], version[2], version[3]),
                    encryption=options[_PL_ENCRYPTION][0], instance=instance, thread_id=thread_id, mars=mars,
                    other=other)
