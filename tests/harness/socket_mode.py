"""The server side of RFC 6455 WebSockets, for the Slack emulator's Socket Mode.

Standard library only.  What is implemented:

* the opening handshake (:func:`check_upgrade`): ``GET`` over HTTP/1.1 with
  ``Upgrade: websocket``, ``Connection: Upgrade``, ``Sec-WebSocket-Version: 13``
  and a ``Sec-WebSocket-Key`` of 16 base64 bytes, answered by ``101`` with
  ``Sec-WebSocket-Accept`` (:func:`accept_key`);
* framing (:func:`encode_frame`, :func:`read_frame`): 7/16/64-bit lengths,
  client frames must be masked, server frames are not, no extensions (RSV bits
  must be zero), control frames at most 125 bytes and never fragmented;
* :class:`WebSocketConnection`: one accepted connection.  Its read loop
  reassembles fragmented messages (continuation frames, with control frames
  allowed in between), answers pings with pongs, performs the closing
  handshake in either direction, and fails the connection with 1002 / 1007 /
  1009 on protocol errors, invalid UTF-8 and oversized messages.

Not implemented: extensions (permessage-deflate), subprotocols.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import socket
import struct
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPCODES = frozenset({OP_CONTINUATION, OP_TEXT, OP_BINARY})
_CONTROL_OPCODES = frozenset({OP_CLOSE, OP_PING, OP_PONG})

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005  # never sent: "no status code was present"
CLOSE_ABNORMAL = 1006  # never sent: "closed without a close frame"
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_TOO_BIG = 1009

DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024


class ProtocolError(Exception):
    """A peer broke RFC 6455: the connection is failed with ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes
    masked: bool = False


# ------------------------------------------------------------------ handshake


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key.strip() + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _tokens(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


@dataclass(frozen=True)
class Upgrade:
    """The answer to an opening handshake: 101 (accepted) or an HTTP error."""

    status: int
    headers: Mapping[str, str]
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == 101


def check_upgrade(method: str, request_version: str, headers: Mapping[str, str]) -> Upgrade:
    """Validate a client's opening handshake (RFC 6455 section 4.2.1).

    ``headers`` may use any case for names.  On success the 101 answer headers
    are returned; otherwise an HTTP error status with a short reason.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    if method != "GET":
        return Upgrade(405, {"Allow": "GET"}, "websocket handshake must be a GET")
    if request_version != "HTTP/1.1":
        return Upgrade(400, {}, "websocket handshake needs HTTP/1.1")
    if not lowered.get("host"):
        return Upgrade(400, {}, "missing Host header")
    if "websocket" not in _tokens(lowered.get("upgrade")):
        return Upgrade(426, {"Upgrade": "websocket", "Connection": "Upgrade"}, "upgrade required")
    if "upgrade" not in _tokens(lowered.get("connection")):
        return Upgrade(400, {}, "Connection header must contain Upgrade")
    if (lowered.get("sec-websocket-version") or "").strip() != "13":
        return Upgrade(426, {"Sec-WebSocket-Version": "13"}, "unsupported websocket version")
    key = (lowered.get("sec-websocket-key") or "").strip()
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 16:
        return Upgrade(400, {}, "invalid Sec-WebSocket-Key")
    return Upgrade(
        101,
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Accept": accept_key(key),
        },
    )


# -------------------------------------------------------------------- framing


def _apply_mask(data: bytes, mask_key: bytes) -> bytes:
    if not data:
        return b""
    # XOR with the 4-byte key repeated, done as one big integer operation.
    repeated = (mask_key * (len(data) // 4 + 1))[: len(data)]
    value = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(data), "big")


def encode_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    mask_key: bytes | None = None,
    rsv: int = 0,
) -> bytes:
    """One frame.  Servers send unmasked frames (``mask_key=None``); a client
    (e.g. a test) passes a 4-byte ``mask_key``.  ``rsv`` sets the three RSV bits
    (only to provoke protocol errors)."""
    first = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0x0F)
    mask_bit = 0x80 if mask_key is not None else 0
    length = len(payload)
    if length <= 125:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask_key is None:
        return header + payload
    if len(mask_key) != 4:
        raise ValueError("mask_key must be 4 bytes")
    return header + mask_key + _apply_mask(payload, mask_key)


def close_payload(code: int | None, reason: str = "") -> bytes:
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """``(code, reason)`` of a close frame; 1005 when it carries no code."""
    if not payload:
        return CLOSE_NO_STATUS, ""
    if len(payload) == 1:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
    (code,) = struct.unpack("!H", payload[:2])
    valid = code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011) or (3000 <= code <= 4999)
    if not valid:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CLOSE_INVALID_PAYLOAD, "close reason is not UTF-8") from None
    return code, reason


def read_frame(
    read: Callable[[int], bytes],
    *,
    require_mask: bool = True,
    max_size: int = DEFAULT_MAX_MESSAGE,
) -> Frame | None:
    """Read one frame with ``read(n)`` (which returns fewer than ``n`` bytes
    only at end of stream).  Returns None at a clean end of stream before a
    frame starts; raises :class:`ProtocolError` for a malformed frame and
    ``EOFError`` for a stream cut inside a frame."""
    head = read(2)
    if not head:
        return None
    if len(head) < 2:
        raise EOFError("stream ended inside a frame header")
    first, second = head[0], head[1]
    fin = bool(first & 0x80)
    if first & 0x70:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "RSV bits set without a negotiated extension")
    opcode = first & 0x0F
    if opcode not in _DATA_OPCODES and opcode not in _CONTROL_OPCODES:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
    masked = bool(second & 0x80)
    if require_mask and not masked:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
    length = second & 0x7F
    if length == 126:
        extended = read(2)
        if len(extended) < 2:
            raise EOFError("stream ended inside a frame header")
        (length,) = struct.unpack("!H", extended)
    elif length == 127:
        extended = read(8)
        if len(extended) < 8:
            raise EOFError("stream ended inside a frame header")
        (length,) = struct.unpack("!Q", extended)
        if length >> 63:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "64-bit length with the top bit set")
    if opcode in _CONTROL_OPCODES:
        if not fin:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
        if length > 125:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frame longer than 125 bytes")
    if length > max_size:
        raise ProtocolError(CLOSE_TOO_BIG, f"frame of {length} bytes exceeds {max_size}")
    mask_key = b""
    if masked:
        mask_key = read(4)
        if len(mask_key) < 4:
            raise EOFError("stream ended inside a frame header")
    payload = read(length) if length else b""
    if len(payload) < length:
        raise EOFError("stream ended inside a frame payload")
    if masked:
        payload = _apply_mask(payload, mask_key)
    return Frame(fin=fin, opcode=opcode, payload=payload, masked=masked)


# ----------------------------------------------------------------- connection


class WebSocketConnection:
    """The server end of one upgraded connection.

    Call :meth:`run` in the thread that owns the connection: it reads until the
    connection is closed (by either side, or by a protocol error) and never
    raises.  :meth:`send_text`, :meth:`ping` and :meth:`close` may be called
    from any thread.  Callbacks run in the reading thread.
    """

    def __init__(
        self,
        sock: socket.socket,
        rfile: BinaryIO,
        *,
        on_text: Callable[[str], None] | None = None,
        on_binary: Callable[[bytes], None] | None = None,
        on_ping: Callable[[bytes], None] | None = None,
        on_pong: Callable[[bytes], None] | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self._sock = sock
        self._rfile = rfile
        self._on_text = on_text
        self._on_binary = on_binary
        self._on_ping = on_ping
        self._on_pong = on_pong
        self._max = max_message_size
        self._send_lock = threading.Lock()
        self._close_sent = False
        self._silent = False
        self._done = threading.Event()
        self.close_code: int | None = None  # the peer's close code (1006 if none came)
        self.close_reason = ""
        self.error: str | None = None  # why the server failed the connection

    # ------------------------------------------------------------- state

    @property
    def closed(self) -> bool:
        """True once the read loop has ended (the socket is shut down)."""
        return self._done.is_set()

    @property
    def closing(self) -> bool:
        """True once a close frame was sent (no more data frames go out)."""
        return self._close_sent

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # ------------------------------------------------------------- sending

    def _send(self, data: bytes, *, closing: bool = False) -> bool:
        with self._send_lock:
            if self._close_sent or self._silent:
                return False
            if closing:
                self._close_sent = True
            try:
                self._sock.sendall(data)
            except OSError:
                return False
        return True

    def send_text(self, text: str) -> bool:
        """Send one text message (one frame).  False if the connection is
        closing or the send failed."""
        return self._send(encode_frame(OP_TEXT, text.encode("utf-8")))

    def ping(self, payload: bytes = b"") -> bool:
        return self._send(encode_frame(OP_PING, payload[:125]))

    def pong(self, payload: bytes = b"") -> bool:
        return self._send(encode_frame(OP_PONG, payload[:125]))

    def start_close(self, code: int = CLOSE_NORMAL, reason: str = "") -> bool:
        """Send a close frame (once) without waiting for the peer's answer."""
        return self._send(encode_frame(OP_CLOSE, close_payload(code, reason)), closing=True)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "", *, timeout: float = 1.0) -> None:
        """Start the closing handshake, wait up to ``timeout`` for the peer to
        answer (or drop the connection), then shut the socket down."""
        self.start_close(code, reason)
        if not self._done.wait(timeout):
            self.abort()
            self._done.wait(timeout)

    def go_silent(self) -> None:
        """Behave like a peer behind a dead network path: read and discard whatever
        arrives, answer nothing (no pong, no close frame), send nothing, and keep the
        TCP connection open.  Only the other side's own liveness checks can notice."""
        with self._send_lock:
            self._silent = True

    @property
    def silent(self) -> bool:
        return self._silent

    def abort(self) -> None:
        """Shut the socket down without a closing handshake (unblocks :meth:`run`)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    # ------------------------------------------------------------- reading

    def _read(self, n: int) -> bytes:
        return self._rfile.read(n)

    def _fail(self, code: int, message: str) -> None:
        self.error = message
        self._send(encode_frame(OP_CLOSE, close_payload(code, message[:100])), closing=True)

    def run(self) -> None:
        try:
            self._loop()
        except Exception:  # a callback failed: report it and drop the connection
            self.error = traceback.format_exc()
            traceback.print_exc()
        finally:
            if self.close_code is None:
                self.close_code = CLOSE_ABNORMAL
            self.abort()
            self._done.set()

    def _loop(self) -> None:
        message_opcode: int | None = None
        parts: list[bytes] = []
        size = 0
        while True:
            try:
                frame = read_frame(self._read, max_size=self._max)
            except ProtocolError as exc:
                self._fail(exc.code, str(exc))
                return
            except (EOFError, OSError, ValueError):
                return
            if frame is None:
                return
            if self._silent:
                continue
            if frame.opcode == OP_PING:
                self.pong(frame.payload)
                if self._on_ping is not None:
                    self._on_ping(frame.payload)
                continue
            if frame.opcode == OP_PONG:
                if self._on_pong is not None:
                    self._on_pong(frame.payload)
                continue
            if frame.opcode == OP_CLOSE:
                try:
                    code, reason = parse_close_payload(frame.payload)
                except ProtocolError as exc:
                    self._fail(exc.code, str(exc))
                    return
                self.close_code, self.close_reason = code, reason
                # Echo the status code (none if the peer sent none), then drop.
                echo = None if code == CLOSE_NO_STATUS else code
                self._send(encode_frame(OP_CLOSE, close_payload(echo)), closing=True)
                return
            if frame.opcode == OP_CONTINUATION:
                if message_opcode is None:
                    self._fail(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
                    return
            else:
                if message_opcode is not None:
                    self._fail(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
                    return
                message_opcode = frame.opcode
            parts.append(frame.payload)
            size += len(frame.payload)
            if size > self._max:
                self._fail(CLOSE_TOO_BIG, f"message exceeds {self._max} bytes")
                return
            if not frame.fin:
                continue
            data = b"".join(parts)
            opcode, message_opcode, parts, size = message_opcode, None, [], 0
            if opcode == OP_TEXT:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    self._fail(CLOSE_INVALID_PAYLOAD, "text message is not valid UTF-8")
                    return
                if self._on_text is not None:
                    self._on_text(text)
            elif self._on_binary is not None:
                self._on_binary(data)
