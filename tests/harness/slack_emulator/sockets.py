"""Socket Mode connections: ``apps.connections.open``, the WebSocket endpoint, hello,
pings and pongs, disconnect/close/drop (see ``tests/harness/socket_mode.py`` for RFC 6455)."""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler

from tests.harness import socket_mode
from tests.harness.slack_emulator.model import (
    APP_ID,
    JSON,
    SOCKET_MODE_PATH,
    _SocketSession,
)
from tests.harness.slack_emulator.state import EmulatorState


class SocketConnections(EmulatorState):
    """Socket Mode connections, server side."""

    def socket_connections(self) -> int:
        """How many Socket Mode connections are live (hello sent, not closed)."""
        with self._lock:
            return len(self._live_sessions())

    def wait_for_socket(self, timeout: float = 5.0, *, count: int = 1) -> int:
        """Wait until at least ``count`` Socket Mode connections are live;
        returns how many are.  Raises AssertionError on timeout."""
        if not self.wait_for(lambda: self.socket_connections() >= count, timeout):
            opened = [c.response for c in self.calls_to("apps.connections.open")]
            raise AssertionError(
                f"expected {count} live Socket Mode connection(s) within {timeout}s, "
                f"got {self.socket_connections()}; apps.connections.open answers: {opened}"
            )
        return self.socket_connections()

    def socket_sessions(self) -> list[JSON]:
        """Every Socket Mode connection so far, oldest first, as dicts: ``id``,
        ``url``, ``live``, ``opened`` / ``closed`` (emulator clock),
        ``close_code`` / ``close_reason`` (the app's; 1006 when it dropped the
        socket without a close frame; None while open; a connection is no
        longer ``live`` once either side sent a close frame, and ``closed`` is
        set when its socket is gone), ``disconnect_reason`` (a ``disconnect``
        the emulator sent), ``dropped`` (when :meth:`socket_drop_silently` cut
        it off; ``closed`` then says when the app gave up on it), ``envelopes`` delivered, ``messages`` received,
        ``pings`` / ``pongs`` received from the app."""
        with self._lock:
            return [
                {
                    "id": s.id,
                    "url": s.url,
                    "live": s.live and not s.ws.closing,
                    "opened": s.opened,
                    "closed": s.closed,
                    "close_code": s.ws.close_code,
                    "close_reason": s.ws.close_reason,
                    "disconnect_reason": s.disconnect_reason,
                    "dropped": s.dropped,
                    "envelopes": s.envelopes,
                    "messages": len(s.received),
                    "pings": s.pings,
                    "pongs": s.pongs,
                }
                for s in self._socket_sessions
            ]

    def socket_disconnect(
        self, reason: str = "refresh_requested", *, close_after: float | None = None
    ) -> int:
        """Send ``{"type": "disconnect", "reason": ...}`` on every live
        connection, as Slack does before it retires one (``refresh_requested``,
        ``warning``, ``link_disabled``).  The connection stays open and may still
        carry envelopes (the app is expected to open a new one); with
        ``close_after`` the emulator closes it that many seconds later, as Slack
        does with the connections it retires.  Returns how many were told."""
        message = json.dumps(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-emulator"}}
        )
        with self._lock:
            sessions = self._live_sessions()
            for session in sessions:
                session.disconnect_reason = reason
        told = [session for session in sessions if session.ws.send_text(message)]
        self._notify()
        if close_after is not None:

            def close_told() -> None:
                for session in told:
                    session.ws.close(socket_mode.CLOSE_NORMAL, f"disconnect: {reason}")
                self._notify()

            timer = threading.Timer(close_after, close_told)
            timer.daemon = True
            timer.start()
        return len(told)

    def socket_drop_silently(self) -> int:
        """Cut every live connection off as a dead network path would: from now on
        the emulator reads and discards what the app sends, answers no ping, sends
        nothing (no envelopes, pings or close frame) and keeps the TCP connection
        open.  Only the app's own liveness checks can notice; ``socket_sessions``
        shows when it closed the connection.  Returns how many were dropped."""
        with self._lock:
            sessions = self._live_sessions()
            now = self.clock()
            for session in sessions:
                session.ws.go_silent()
                session.dropped = now
        self._notify()
        return len(sessions)

    def socket_close(self, code: int = socket_mode.CLOSE_NORMAL, reason: str = "") -> int:
        """Close every live connection from the server side (close frame with
        ``code``), as when Slack drops a connection.  Returns how many."""
        return self._close_sockets(code, reason, refuse_new=False)

    def socket_ping(self, timeout: float = 5.0) -> int:
        """Ping every live connection and wait until each answered with a
        matching pong.  Returns how many answered; raises AssertionError on
        timeout."""
        with self._lock:
            sessions = self._live_sessions()
            expected = {s.id: f"check:{next(self._seq)}".encode() for s in sessions}
        for session in sessions:
            session.ws.ping(expected[session.id])

        def answered() -> bool:
            with self._lock:
                return all(expected[s.id] in s.pong_payloads for s in sessions)

        if not self.wait_for(answered, timeout):
            raise AssertionError(f"not every Socket Mode connection answered a ping in {timeout}s")
        return len(sessions)

    def _socket_url(self, ticket: str) -> str:
        return f"ws://127.0.0.1:{self.port}{SOCKET_MODE_PATH}{ticket}"

    def _apps_connections_open(self, a: JSON) -> JSON:
        ticket = f"{next(self._seq):06d}{secrets.token_hex(12)}"
        self._socket_tickets[ticket] = {"issued": self.clock(), "connections": 0}
        return {"ok": True, "url": self._socket_url(ticket)}

    def _live_sessions(self) -> list[_SocketSession]:
        return [s for s in self._socket_sessions if s.live and not s.ws.closing and not s.ws.silent]

    def _socket_received(self, session: _SocketSession, text: str) -> None:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        message: JSON = parsed if isinstance(parsed, dict) else {"_raw": text}
        with self._lock:
            session.received.append(message)
            self._socket_messages.append(copy.deepcopy(message))
            envelope_id = message.get("envelope_id")
            if isinstance(envelope_id, str) and envelope_id not in self._socket_acks:
                self._socket_acks[envelope_id] = copy.deepcopy(message)
                self._socket_ack_times[envelope_id] = self.clock()
                sent = self._socket_envelopes.get(envelope_id)
                if sent is not None:
                    try:
                        self._apply_socket_ack(sent, message)
                    except Exception:  # an emulator bug: report it, keep the connection
                        traceback.print_exc()
        self._notify()

    def _socket_pinged(self, session: _SocketSession) -> None:
        with self._lock:
            session.pings += 1

    def _socket_ponged(self, session: _SocketSession, payload: bytes) -> None:
        with self._lock:
            session.pongs += 1
            session.pong_payloads.append(payload)
        self._notify()

    def _ensure_pinger(self) -> None:
        """Start the ping thread with the first WebSocket (not for HTTP-only use)."""
        with self._lock:
            if self._pinger is not None or not self.socket_ping_interval or self._socket_closing:
                return
            self._pinger_stop.clear()
            self._pinger = threading.Thread(
                target=self._ping_loop, name="slack-emulator-pinger", daemon=True
            )
            self._pinger.start()

    def _ping_loop(self) -> None:
        interval = self.socket_ping_interval or 0.1
        n = 0
        while not self._pinger_stop.wait(interval):
            with self._lock:
                sessions = self._live_sessions()
            for session in sessions:
                n += 1
                # Never an empty payload: slack_sdk's reader stalls on 2-byte frames.
                session.ws.ping(f"emulator:{n}".encode())

    def _close_sockets(self, code: int, reason: str, *, refuse_new: bool = True) -> int:
        with self._lock:
            if refuse_new:
                self._socket_closing = True
            sessions = [s for s in self._socket_sessions if not s.ws.closed]
        # Send every close frame first, then wait for all of them together.
        for session in sessions:
            session.ws.start_close(code, reason)
        deadline = time.monotonic() + 1.0
        for session in sessions:
            if not session.ws.wait_closed(max(deadline - time.monotonic(), 0)):
                session.ws.abort()
        for session in sessions:
            session.ws.wait_closed(1.0)
        self._notify()
        return len(sessions)

    def _handle_socket_mode(self, req: BaseHTTPRequestHandler, ticket: str) -> None:
        upgrade = socket_mode.check_upgrade(
            req.command, req.request_version, dict(req.headers.items())
        )
        with self._lock:
            known = ticket in self._socket_tickets
            closing = self._socket_closing
        if upgrade.accepted and not known:
            upgrade = socket_mode.Upgrade(404, {}, "unknown Socket Mode ticket")
        if upgrade.accepted and closing:
            upgrade = socket_mode.Upgrade(503, {}, "server shutting down")
        if not upgrade.accepted:
            body = upgrade.reason.encode()
            req.send_response(upgrade.status)
            for key, value in upgrade.headers.items():
                req.send_header(key, value)
            req.send_header("Content-Type", "text/plain; charset=utf-8")
            req.send_header("Content-Length", str(len(body)))
            req.send_header("Connection", "close")
            req.end_headers()
            req.wfile.write(body)
            return
        req.send_response(101, "Switching Protocols")
        for key, value in upgrade.headers.items():
            req.send_header(key, value)
        req.end_headers()
        req.close_connection = True

        def on_text(text: str) -> None:
            self._socket_received(session, text)

        def on_ping(payload: bytes) -> None:
            self._socket_pinged(session)

        def on_pong(payload: bytes) -> None:
            self._socket_ponged(session, payload)

        ws = socket_mode.WebSocketConnection(
            req.connection, req.rfile, on_text=on_text, on_ping=on_ping, on_pong=on_pong
        )
        with self._lock:
            session = _SocketSession(
                id=f"WS{next(self._seq):04d}",
                url=self._socket_url(ticket),
                ws=ws,
                opened=self.clock(),
            )
            self._socket_tickets[ticket]["connections"] += 1
            self._socket_sessions.append(session)
            closing = self._socket_closing
            hello = {
                "type": "hello",
                "num_connections": len(self._live_sessions()) + 1,
                "debug_info": {
                    "host": "applink-emulator",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        # Live only once hello is out, so that no envelope can precede it.
        if closing:
            ws.abort()
        elif ws.send_text(json.dumps(hello)):
            with self._lock:
                session.live = True
            self._ensure_pinger()
        self._notify()
        try:
            ws.run()
        finally:
            with self._lock:
                session.live = False
                session.closed = self.clock()
            self._notify()
