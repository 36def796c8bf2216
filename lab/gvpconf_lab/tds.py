"""The half of TDS ([MS-TDS]) that only the lab's SQL Server stand-in uses: LOGIN7, SQL batches and the
result tokens. The probes need only packets and PRELOGIN (``gvpconf.wire.tds``); the login is pymssql's.

* LOGIN7 (§2.2.6.4): the fixed 94-byte part (little-endian integers, offset/length pairs in
  UCS-2 characters) and the UCS-2 strings; the password is obfuscated (each byte's nibbles
  swapped, then XOR 0xA5);
* SQL batch (§2.2.6.7): ALL_HEADERS (§2.2.5.3; the transaction descriptor header) then UCS-2 text;
* the tokens a login and a one-row result set need (§2.2.7): LOGINACK (0xAD, its TDS version
  big-endian), ERROR (0xAA) / INFO (0xAB), ENVCHANGE (0xE3, string kinds), COLMETADATA (0x81)
  and ROW (0xD1) for NVARCHAR columns, DONE / DONEPROC / DONEINPROC (0xFD/0xFE/0xFF, 8-byte
  row count as in TDS 7.2+).

Pure, like the codecs it extends: no sockets, no clocks; decoders raise only ``WireError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from gvpconf.wire import WireError
from gvpconf.wire.banner import describe
from gvpconf.wire.tds import _u8, _u16, _u32

# -- LOGIN7 -------------------------------------------------------------------------------------------

TDS74 = 0x74000004
_LOGIN7_FIXED = 94
_FEXTENSION = 0x10  # OptionFlags3 bit: ibExtension points to a FeatureExt offset
_LOGIN7_STRINGS = ("hostname", "username", "password", "app_name", "server_name", "_extension", "library",
                   "language", "database")


def _ucs2(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-16-le")
    except UnicodeEncodeError as exc:  # lone surrogates
        raise WireError(f"{what} is not encodable as UCS-2: {text!r}") from exc


def _from_ucs2(data: bytes, what: str) -> str:
    if len(data) % 2:
        raise WireError(f"{what}: odd number of bytes ({len(data)}) for UCS-2 text")
    try:
        return data.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise WireError(f"{what} is not valid UCS-2/UTF-16 text") from exc


def _chars(text: str, what: str) -> int:
    """Length in UCS-2 code units."""
    return len(_ucs2(text, what)) // 2



def _obfuscate(data: bytes) -> bytes:
    """§2.2.6.4 password encoding: swap each byte's nibbles, then XOR 0xA5."""
    return bytes((((b << 4) & 0xF0) | (b >> 4)) ^ 0xA5 for b in data)


def _deobfuscate(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        x = b ^ 0xA5
        out.append(((x << 4) & 0xF0) | (x >> 4))
    return bytes(out)


@dataclass(frozen=True, slots=True, repr=False)
class Login7:
    """A LOGIN7 record. ``repr`` hides the password."""

    username: str = ""
    password: str = ""
    database: str = ""
    hostname: str = ""
    app_name: str = ""
    server_name: str = ""
    library: str = ""
    language: str = ""
    tds_version: int = TDS74
    packet_size: int = 4096
    client_prog_ver: int = 0
    client_pid: int = 0
    connection_id: int = 0
    option_flags1: int = 0xE0
    option_flags2: int = 0x03
    type_flags: int = 0
    option_flags3: int = 0
    client_timezone: int = 0
    client_lcid: int = 0x0409
    client_id: bytes = field(default=b"\x00" * 6)

    def __post_init__(self) -> None:
        for name in ("tds_version", "packet_size", "client_prog_ver", "client_pid", "connection_id",
                     "client_lcid"):
            _u32(getattr(self, name), name)
        for name in ("option_flags1", "option_flags2", "type_flags", "option_flags3"):
            _u8(getattr(self, name), name)
        if not -0x80000000 <= self.client_timezone <= 0x7FFFFFFF:
            raise WireError(f"client_timezone out of range: {self.client_timezone}")
        if len(self.client_id) != 6:
            raise WireError(f"LOGIN7 ClientID is 6 bytes, got {len(self.client_id)}")
        for name in ("username", "password", "database", "hostname", "app_name", "server_name", "library",
                     "language"):
            if _chars(getattr(self, name), name) > 128:
                raise WireError(f"LOGIN7 {name} is longer than 128 characters")

    def __repr__(self) -> str:
        return (f"Login7(username={self.username!r}, password='***', database={self.database!r}, "
                f"app_name={self.app_name!r}, tds_version=0x{self.tds_version:08x})")


def encode_login7(login: Login7) -> bytes:
    values: dict[str, bytes] = {
        name: (_obfuscate(_ucs2(login.password, name)) if name == "password" else _ucs2(getattr(login, name), name))
        for name in _LOGIN7_STRINGS if name != "_extension"
    }
    extension = b""
    if login.option_flags3 & _FEXTENSION:
        extension = b"\x00\x00\x00\x00"  # patched below: DWORD offset of a FeatureExt block
    variable = bytearray()
    table = bytearray()
    offset = _LOGIN7_FIXED
    for name in _LOGIN7_STRINGS:
        data = extension if name == "_extension" else values[name]
        count = len(data) if name == "_extension" else len(data) // 2
        table += struct.pack("<HH", offset + len(variable), count)
        variable += data
    feature_at = _LOGIN7_FIXED + len(variable)
    if extension:
        ext_pos = struct.unpack_from("<H", table, 5 * 4)[0] - _LOGIN7_FIXED
        variable[ext_pos:ext_pos + 4] = struct.pack("<I", feature_at)
        variable += b"\xFF"  # an empty FeatureExt list: only its terminator
    end = _LOGIN7_FIXED + len(variable)
    table += login.client_id
    table += struct.pack("<HH", end, 0)  # SSPI
    table += struct.pack("<HH", end, 0)  # AtchDBFile
    table += struct.pack("<HH", end, 0)  # ChangePassword
    table += struct.pack("<I", 0)  # cbSSPILong
    fixed = struct.pack("<IIIIIIBBBBiI", end, login.tds_version, login.packet_size, login.client_prog_ver,
                        login.client_pid, login.connection_id, login.option_flags1, login.option_flags2,
                        login.type_flags, login.option_flags3, login.client_timezone, login.client_lcid)
    out = fixed + bytes(table) + bytes(variable)
    assert len(fixed) + len(table) == _LOGIN7_FIXED
    return out


def parse_login7(payload: bytes) -> Login7:
    if len(payload) < _LOGIN7_FIXED:
        raise WireError(f"LOGIN7 shorter than its {_LOGIN7_FIXED}-byte fixed part (TDS 7.2+): "
                        f"{len(payload)} bytes")
    (length, tds_version, packet_size, prog_ver, pid, conn_id, flags1, flags2, type_flags, flags3, tz,
     lcid) = struct.unpack_from("<IIIIIIBBBBiI", payload)
    if length != len(payload):
        raise WireError(f"LOGIN7 length field says {length} bytes, the message has {len(payload)}")
    strings: dict[str, str] = {}
    for n, name in enumerate(_LOGIN7_STRINGS):
        offset, count = struct.unpack_from("<HH", payload, 36 + 4 * n)
        if name == "_extension":
            continue  # a FeatureExt pointer: the features are not interpreted here
        end = offset + 2 * count
        if count and (offset < _LOGIN7_FIXED or end > len(payload)):
            raise WireError(f"LOGIN7 {name} points outside the message (offset {offset}, {count} characters)")
        raw = payload[offset:end]
        if name == "password":
            raw = _deobfuscate(raw)
        strings[name] = _from_ucs2(raw, f"LOGIN7 {name}")
    client_id = payload[72:78]
    return Login7(tds_version=tds_version, packet_size=packet_size, client_prog_ver=prog_ver, client_pid=pid,
                  connection_id=conn_id, option_flags1=flags1, option_flags2=flags2, type_flags=type_flags,
                  option_flags3=flags3, client_timezone=tz, client_lcid=lcid, client_id=client_id, **strings)


# -- SQL batch ----------------------------------------------------------------------------------------

_HDR_TRANSACTION = 0x0002


@dataclass(frozen=True, slots=True)
class SqlBatch:
    """A SQL batch with the transaction descriptor header TDS 7.2+ requires."""

    text: str
    transaction: int = 0
    outstanding: int = 1

    def __post_init__(self) -> None:
        _ucs2(self.text, "SQL text")
        if not 0 <= self.transaction < 1 << 64:
            raise WireError(f"transaction descriptor out of range: {self.transaction}")
        _u32(self.outstanding, "outstanding request count")


def encode_sql_batch(batch: SqlBatch) -> bytes:
    header = struct.pack("<IHQI", 18, _HDR_TRANSACTION, batch.transaction, batch.outstanding)
    return struct.pack("<I", 4 + len(header)) + header + _ucs2(batch.text, "SQL text")


def parse_sql_batch(payload: bytes) -> SqlBatch:
    if len(payload) < 4:
        raise WireError(f"SQL batch without ALL_HEADERS: {describe(payload)}")
    total = struct.unpack_from("<I", payload)[0]
    if total < 4 or total > len(payload):
        raise WireError(f"SQL batch ALL_HEADERS length {total} does not fit the {len(payload)}-byte message")
    pos, transaction, outstanding = 4, 0, 1
    while pos < total:
        if pos + 6 > total:
            raise WireError("SQL batch header cut short")
        hlen, htype = struct.unpack_from("<IH", payload, pos)
        if hlen < 6 or pos + hlen > total:
            raise WireError(f"SQL batch header of length {hlen} does not fit ALL_HEADERS")
        if htype == _HDR_TRANSACTION:
            if hlen != 18:
                raise WireError(f"transaction descriptor header must be 18 bytes, got {hlen}")
            transaction, outstanding = struct.unpack_from("<QI", payload, pos + 6)
        pos += hlen
    return SqlBatch(_from_ucs2(payload[total:], "SQL text"), transaction, outstanding)


# -- tokens -------------------------------------------------------------------------------------------

TOKEN_COLMETADATA = 0x81
TOKEN_ERROR = 0xAA
TOKEN_INFO = 0xAB
TOKEN_LOGINACK = 0xAD
TOKEN_ROW = 0xD1
TOKEN_ENVCHANGE = 0xE3
TOKEN_DONE = 0xFD
TOKEN_DONEPROC = 0xFE
TOKEN_DONEINPROC = 0xFF
_NVARCHAR = 0xE7
_NULL_LEN = 0xFFFF
DEFAULT_COLLATION = bytes.fromhex("0904d00034")  # Latin1_General_CI_AS

DONE_FINAL, DONE_MORE, DONE_ERROR, DONE_COUNT, DONE_ATTN = 0x00, 0x01, 0x02, 0x10, 0x20


def _b_varchar(text: str, what: str) -> bytes:
    data = _ucs2(text, what)
    if len(data) // 2 > 0xFF:
        raise WireError(f"{what} is longer than 255 characters")
    return bytes([len(data) // 2]) + data


def _us_varchar(text: str, what: str) -> bytes:
    data = _ucs2(text, what)
    if len(data) // 2 > 0xFFFF:
        raise WireError(f"{what} is longer than 65535 characters")
    return struct.pack("<H", len(data) // 2) + data


@dataclass(frozen=True, slots=True)
class LoginAck:
    """LOGINACK (0xAD): the login succeeded."""

    prog_name: str = "Microsoft SQL Server"
    prog_version: tuple[int, int, int, int] = (15, 0, 7, 208)  # major, minor, build high, build low
    tds_version: int = TDS74
    interface: int = 1  # SQL_TSQL

    def __post_init__(self) -> None:
        _u8(self.interface, "interface")
        _u32(self.tds_version, "TDS version")
        if len(self.prog_version) != 4:
            raise WireError("LOGINACK program version is 4 bytes")
        for v in self.prog_version:
            _u8(v, "program version byte")
        _b_varchar(self.prog_name, "program name")


@dataclass(frozen=True, slots=True)
class ServerMessage:
    """ERROR (0xAA) or INFO (0xAB)."""

    number: int
    message: str
    severity: int = 14
    state: int = 1
    server: str = ""
    procedure: str = ""
    line: int = 0
    error: bool = True

    def __post_init__(self) -> None:
        _u32(self.number, "message number")
        _u8(self.state, "state")
        _u8(self.severity, "severity (class)")
        _u32(self.line, "line number")
        _us_varchar(self.message, "message text")
        _b_varchar(self.server, "server name")
        _b_varchar(self.procedure, "procedure name")


ENV_DATABASE, ENV_LANGUAGE, ENV_CHARSET, ENV_PACKETSIZE = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class EnvChange:
    """ENVCHANGE (0xE3) of a string kind: database (1), language (2), charset (3), packet size (4)."""

    kind: int
    new: str
    old: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (ENV_DATABASE, ENV_LANGUAGE, ENV_CHARSET, ENV_PACKETSIZE):
            raise WireError(f"ENVCHANGE kind {self.kind} is not a string kind this codec handles")
        _b_varchar(self.new, "ENVCHANGE new value")
        _b_varchar(self.old, "ENVCHANGE old value")


@dataclass(frozen=True, slots=True)
class Column:
    """An NVARCHAR column: ``max_length`` in bytes (even, at most 8000)."""

    name: str
    max_length: int = 8000
    nullable: bool = True

    def __post_init__(self) -> None:
        if self.max_length % 2 or not 2 <= self.max_length <= 8000:
            raise WireError(f"NVARCHAR max length must be even, 2..8000 bytes, got {self.max_length}")
        _b_varchar(self.name, "column name")


@dataclass(frozen=True, slots=True)
class ColMetadata:
    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.columns) <= 4096:
            raise WireError(f"COLMETADATA needs 1..4096 columns, got {len(self.columns)}")


@dataclass(frozen=True, slots=True)
class Row:
    values: tuple[str | None, ...]

    def __post_init__(self) -> None:
        for v in self.values:
            if v is not None:
                _ucs2(v, "row value")


@dataclass(frozen=True, slots=True)
class Done:
    """DONE (0xFD), DONEPROC (0xFE) or DONEINPROC (0xFF)."""

    status: int = DONE_FINAL
    cur_cmd: int = 0
    row_count: int = 0
    token: int = TOKEN_DONE

    def __post_init__(self) -> None:
        if self.token not in (TOKEN_DONE, TOKEN_DONEPROC, TOKEN_DONEINPROC):
            raise WireError(f"not a DONE token: 0x{self.token:02x}")
        _u16(self.status, "DONE status")
        _u16(self.cur_cmd, "DONE current command")
        if not 0 <= self.row_count < 1 << 64:
            raise WireError(f"DONE row count out of range: {self.row_count}")


Token = LoginAck | ServerMessage | EnvChange | ColMetadata | Row | Done


def _encode_token(token: Token, columns: tuple[Column, ...] | None) -> bytes:
    if isinstance(token, LoginAck):
        body = (bytes([token.interface]) + struct.pack(">I", token.tds_version)
                + _b_varchar(token.prog_name, "program name") + bytes(token.prog_version))
        return bytes([TOKEN_LOGINACK]) + struct.pack("<H", len(body)) + body
    if isinstance(token, ServerMessage):
        body = (struct.pack("<IBB", token.number, token.state, token.severity)
                + _us_varchar(token.message, "message") + _b_varchar(token.server, "server")
                + _b_varchar(token.procedure, "procedure") + struct.pack("<I", token.line))
        if len(body) > 0xFFFF:
            raise WireError("ERROR/INFO token longer than 65535 bytes")
        return bytes([TOKEN_ERROR if token.error else TOKEN_INFO]) + struct.pack("<H", len(body)) + body
    if isinstance(token, EnvChange):
        body = bytes([token.kind]) + _b_varchar(token.new, "new") + _b_varchar(token.old, "old")
        return bytes([TOKEN_ENVCHANGE]) + struct.pack("<H", len(body)) + body
    if isinstance(token, ColMetadata):
        out = bytearray([TOKEN_COLMETADATA]) + struct.pack("<H", len(token.columns))
        for col in token.columns:
            flags = 0x0001 if col.nullable else 0x0000
            out += struct.pack("<IHBH", 0, flags | 0x0008, _NVARCHAR, col.max_length)  # 0x0008: updateable unknown
            out += DEFAULT_COLLATION + _b_varchar(col.name, "column name")
        return bytes(out)
    if isinstance(token, Row):
        if columns is None:
            raise WireError("ROW without a COLMETADATA before it")
        if len(token.values) != len(columns):
            raise WireError(f"ROW has {len(token.values)} values for {len(columns)} columns")
        out = bytearray([TOKEN_ROW])
        for col, value in zip(columns, token.values, strict=True):
            if value is None:
                out += struct.pack("<H", _NULL_LEN)
                continue
            data = _ucs2(value, "row value")
            if len(data) > col.max_length:
                raise WireError(f"value of {len(data)} bytes exceeds column {col.name!r} ({col.max_length})")
            out += struct.pack("<H", len(data)) + data
        return bytes(out)
    return bytes([token.token]) + struct.pack("<HHQ", token.status, token.cur_cmd, token.row_count)


def encode_tokens(tokens: Iterable[Token]) -> bytes:
    """A token stream (the payload of a RESPONSE message)."""
    out = bytearray()
    columns: tuple[Column, ...] | None = None
    for token in tokens:
        out += _encode_token(token, columns)
        if isinstance(token, ColMetadata):
            columns = token.columns
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise WireError(f"token stream cut short in {what} (need {n} bytes at offset {self.pos}, "
                            f"have {len(self.data) - self.pos})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def b_varchar(self, what: str) -> str:
        n = self.take(1, what)[0]
        return _from_ucs2(self.take(2 * n, what), what)

    def us_varchar(self, what: str) -> str:
        (n,) = self.unpack("<H", what)
        return _from_ucs2(self.take(2 * n, what), what)


def _parse_sized(r: _Reader, what: str) -> _Reader:
    (length,) = r.unpack("<H", what)
    return _Reader(r.take(length, what))


def _done_sized(sub: _Reader, what: str) -> None:
    if sub.pos != len(sub.data):
        raise WireError(f"{what} token has {len(sub.data) - sub.pos} unexpected trailing bytes")


def parse_tokens(payload: bytes) -> tuple[Token, ...]:
    """Parse a RESPONSE token stream made of the tokens this codec knows. Raises WireError otherwise."""
    r = _Reader(payload)
    out: list[Token] = []
    columns: tuple[Column, ...] | None = None
    while r.pos < len(payload):
        kind = r.take(1, "token type")[0]
        if kind == TOKEN_LOGINACK:
            sub = _parse_sized(r, "LOGINACK")
            interface = sub.take(1, "LOGINACK interface")[0]
            (tds_version,) = sub.unpack(">I", "LOGINACK TDS version")
            name = sub.b_varchar("LOGINACK program name")
            ver = sub.take(4, "LOGINACK program version")
            _done_sized(sub, "LOGINACK")
            out.append(LoginAck(name, (ver[0], ver[1], ver[2], ver[3]), tds_version, interface))
        elif kind in (TOKEN_ERROR, TOKEN_INFO):
            sub = _parse_sized(r, "ERROR/INFO")
            number, state, severity = sub.unpack("<IBB", "ERROR/INFO header")
            text = sub.us_varchar("message text")
            server = sub.b_varchar("server name")
            proc = sub.b_varchar("procedure name")
            (line,) = sub.unpack("<I", "line number")
            _done_sized(sub, "ERROR/INFO")
            out.append(ServerMessage(number, text, severity, state, server, proc, line, kind == TOKEN_ERROR))
        elif kind == TOKEN_ENVCHANGE:
            sub = _parse_sized(r, "ENVCHANGE")
            env = sub.take(1, "ENVCHANGE type")[0]
            if env not in (ENV_DATABASE, ENV_LANGUAGE, ENV_CHARSET, ENV_PACKETSIZE):
                raise WireError(f"ENVCHANGE type {env} is not handled by this codec")
            new = sub.b_varchar("ENVCHANGE new value")
            old = sub.b_varchar("ENVCHANGE old value")
            _done_sized(sub, "ENVCHANGE")
            out.append(EnvChange(env, new, old))
        elif kind == TOKEN_COLMETADATA:
            (count,) = r.unpack("<H", "COLMETADATA count")
            if count == 0xFFFF:
                raise WireError("COLMETADATA with no metadata (0xFFFF) is not handled by this codec")
            cols: list[Column] = []
            for _ in range(count):
                _user_type, flags, type_id = r.unpack("<IHB", "column header")
                if type_id != _NVARCHAR:
                    raise WireError(f"column type 0x{type_id:02x} is not handled by this codec (NVARCHAR only)")
                (max_len,) = r.unpack("<H", "NVARCHAR max length")
                r.take(5, "collation")
                name = r.b_varchar("column name")
                cols.append(Column(name, max_len, bool(flags & 0x0001)))
            meta = ColMetadata(tuple(cols))
            columns = meta.columns
            out.append(meta)
        elif kind == TOKEN_ROW:
            if columns is None:
                raise WireError("ROW token before any COLMETADATA")
            values: list[str | None] = []
            for col in columns:
                (n,) = r.unpack("<H", "NVARCHAR length")
                if n == _NULL_LEN:
                    values.append(None)
                    continue
                if n > col.max_length:
                    raise WireError(f"value of {n} bytes in column {col.name!r} of at most {col.max_length}")
                values.append(_from_ucs2(r.take(n, "NVARCHAR value"), "NVARCHAR value"))
            out.append(Row(tuple(values)))
        elif kind in (TOKEN_DONE, TOKEN_DONEPROC, TOKEN_DONEINPROC):
            status, cur_cmd, count = r.unpack("<HHQ", "DONE")
            out.append(Done(status, cur_cmd, count, kind))
        else:
            raise WireError(f"token 0x{kind:02x} at offset {r.pos - 1} is not handled by this codec")
    return tuple(out)
