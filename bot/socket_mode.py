"""Our Socket Mode client: one reader thread per WebSocket, a ping watchdog, make-before-break.

Why not one of slack_sdk's clients (all measured against tests/harness's emulator):

* the built-in client reads every connection from ONE runner thread whose reads
  block up to 3 s: on a `disconnect` (Slack refreshes connections routinely) the
  new connection is open but read only when the old socket's read times out, so
  envelopes wait ~3 s, past Slack's ack window; a connection dropped without a
  close frame spins a core reading empty data until five pings fail (~50 s);
* the websocket-client adapter closes the old connection before the new one is
  open (envelopes in between have nowhere to go) and runs `run_forever` without
  a ping timeout, so a silent drop is never noticed.

Here every connection has its own reader thread blocked in `recv` (no timeout, so
no spinning), the old connection keeps being read until Slack (or we) close it,
and a watchdog pings every connection each `ping_interval` seconds and shuts down
one that has not been heard from (any frame: pong, ping, data) for `dead_after`
seconds, which wakes its reader and starts a new connection. The WebSocket
protocol itself is websocket-client's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import websocket
from slack_bolt import App
from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk import WebClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from services.metrics import ACK_SECONDS

log = logging.getLogger(__name__)
# How long a retired connection may take to finish its closing handshake.
CLOSE_GRACE = 5.0


@dataclass(eq=False)
class _Connection:
    id: int
    ws: websocket.WebSocket
    heard: float  # monotonic time of the last frame received
    retiring: bool = False  # replaced: its end does not start a new connection
    ended: threading.Event = field(default_factory=threading.Event)

    def kill(self) -> None:
        """Shut the TCP socket down: wakes the reader blocked in recv (no close frame)."""
        sock = self.ws.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SocketModeClient(BaseSocketModeClient):
    """A Socket Mode client for Bolt's `BaseSocketModeHandler` (see the module docstring)."""

    def __init__(
        self,
        app_token: str,
        *,
        web_client: WebClient,
        logger: logging.Logger | None = None,
        ping_interval: float = 2.0,
        dead_after: float = 5.0,
        concurrency: int = 10,
        connect_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_token = app_token
        self.web_client = web_client
        self.logger = logger or log
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self.connect_timeout = connect_timeout
        self.clock = clock
        self.message_listeners = []
        self.socket_mode_request_listeners = []
        self.message_workers = ThreadPoolExecutor(concurrency, thread_name_prefix="socket-mode")
        self.closed = False
        self.connect_operation_lock = threading.Lock()
        self.wss_uri = ""
        self._lock = threading.Lock()
        self._ids = count(1)
        self._current: _Connection | None = None
        self._open: list[_Connection] = []
        # envelope_id -> (when it was read, the connection it came on), until acked.
        self._received: dict[str, tuple[float, _Connection]] = {}
        self._reconnecting = threading.Lock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    # -- the BaseSocketModeClient interface ---------------------------------

    def issue_new_wss_url(self) -> str:
        # Errors go to the caller as they are: start-up names a refused token and waits
        # out an unreachable Slack (bot/startup.py); a reconnect retries with backoff.
        response = self.web_client.apps_connections_open(app_token=self.app_token)
        return str(response["url"])

    def is_connected(self) -> bool:
        current = self._current
        return current is not None and not current.ended.is_set()

    def connect(self) -> None:
        """Open a new connection, make it current, then retire the previous one."""
        with self.connect_operation_lock:
            self.wss_uri = self.issue_new_wss_url()
            conn = self._open_connection(self.wss_uri)
            with self._lock:
                previous, self._current = self._current, conn
                self._open.append(conn)
            # Read only once the connection is current: a `disconnect` that Slack sends
            # right after `hello` must find it current, or no replacement would be opened.
            threading.Thread(
                target=self._read, args=(conn,), name=f"socket-mode-reader-{conn.id}", daemon=True
            ).start()
            if previous is not None:
                self._retire(previous)
        self._ensure_watchdog()
        self.logger.info("Socket Mode connection %s open", conn.id)

    def connect_to_new_endpoint(self, force: bool = False) -> None:
        self.connect()

    def disconnect(self) -> None:
        with self._lock:
            current = self._current
        if current is not None:
            self._retire(current)

    def close(self) -> None:
        self.closed = True
        self._stop.set()
        with self._lock:
            connections = list(self._open)
        for conn in connections:
            self._retire(conn)
        self.message_workers.shutdown(wait=False)

    def send_message(self, message: str) -> None:
        conn = self._current
        if conn is None:
            raise websocket.WebSocketConnectionClosedException("no Socket Mode connection")
        conn.ws.send(message)

    def send_socket_mode_response(self, response: dict[str, Any] | SocketModeResponse) -> None:
        """The ack goes back on the connection the envelope came on, unless that one is
        closing (nothing sent after our close frame would be read): then on the current one."""
        body = response.to_dict() if isinstance(response, SocketModeResponse) else response
        envelope_id = str(body.get("envelope_id") or "")
        with self._lock:
            received = self._received.pop(envelope_id, None)
        text = json.dumps(body)
        if received is not None and not received[1].retiring:
            try:
                received[1].ws.send(text)
            except (websocket.WebSocketException, OSError):
                self.send_message(text)  # it closed meanwhile: the current one
        else:
            self.send_message(text)
        if received is not None:
            # From the envelope read off the socket to its ack sent: what Slack's 3 s measure.
            ACK_SECONDS.observe(self.clock() - received[0])

    # -- connections ----------------------------------------------------------

    def _open_connection(self, url: str) -> _Connection:
        ws = websocket.WebSocket(enable_multithread=True)
        ws.connect(url, timeout=self.connect_timeout)  # type: ignore[no-untyped-call]  # websocket-client
        # Reads block until a frame (or the socket's shutdown): no timeout, no spinning.
        ws.settimeout(None)
        return _Connection(id=next(self._ids), ws=ws, heard=self.clock())

    def _read(self, conn: _Connection) -> None:
        try:
            while True:
                opcode, frame = conn.ws.recv_data_frame(control_frame=True)
                conn.heard = self.clock()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self._on_text(conn, frame.data.decode("utf-8"))
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            if not conn.retiring and not self.closed:
                self.logger.warning("Socket Mode connection %s lost: %s", conn.id, exc or type(exc))
        finally:
            self._ended(conn)

    def _ended(self, conn: _Connection) -> None:
        conn.ended.set()
        conn.kill()
        conn.ws.shutdown()  # type: ignore[no-untyped-call]  # websocket-client
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)
            replace = self._current is conn and not self.closed
        if replace:
            self._reconnect_in_background(f"connection {conn.id} ended")

    def _on_text(self, conn: _Connection, text: str) -> None:
        message = json.loads(text) if text.startswith("{") else {}
        kind = message.get("type")
        if kind == "hello":
            return
        if kind == "disconnect":
            # Slack retires this connection soon (refresh_requested, warning...): open the
            # next one now, keep reading this one until it is closed.
            self.logger.info(
                "Slack asked to reconnect (%s); opening a new connection", message.get("reason")
            )
            self._reconnect_in_background(f"disconnect: {message.get('reason')}", replacing=conn)
            return
        envelope_id = message.get("envelope_id")
        if isinstance(envelope_id, str):
            with self._lock:
                self._received[envelope_id] = (self.clock(), conn)
        self.message_workers.submit(self.run_message_listeners, message, text)

    def _retire(self, conn: _Connection) -> None:
        """Close with a closing handshake; a peer that does not answer is cut off."""
        conn.retiring = True
        if conn.ended.is_set():
            return
        try:
            conn.ws.send_close(websocket.STATUS_NORMAL)
        except (websocket.WebSocketException, OSError):
            conn.kill()
            return
        timer = threading.Timer(CLOSE_GRACE, conn.kill)
        timer.daemon = True
        timer.start()

    def _reconnect_in_background(self, why: str, *, replacing: _Connection | None = None) -> None:
        threading.Thread(
            target=self._reconnect, args=(why, replacing), name="socket-mode-connect", daemon=True
        ).start()

    def _reconnect(self, why: str, replacing: _Connection | None) -> None:
        # One reconnection at a time; a second reason that arrives meanwhile is served by it.
        if not self._reconnecting.acquire(blocking=False):
            return
        try:
            delay = 1.0
            while not self.closed:
                if replacing is not None and self._current is not replacing:
                    return  # already replaced
                try:
                    self.connect()
                    return
                except Exception as exc:
                    self.logger.warning(
                        "Socket Mode reconnect (%s) failed: %s; retrying in %.0fs", why, exc, delay
                    )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 30.0)
        finally:
            self._reconnecting.release()

    # -- liveness -----------------------------------------------------------

    def _ensure_watchdog(self) -> None:
        with self._lock:
            if self._watchdog is not None:
                return
            self._watchdog = threading.Thread(
                target=self._watch, name="socket-mode-watchdog", daemon=True
            )
        self._watchdog.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.ping_interval):
            with self._lock:
                connections = [c for c in self._open if not c.ended.is_set()]
            now = self.clock()
            for conn in connections:
                if now - conn.heard > self.dead_after:
                    self.logger.warning(
                        "Socket Mode connection %s silent for %.1fs: dropping it",
                        conn.id,
                        now - conn.heard,
                    )
                    conn.kill()
                    continue
                try:
                    conn.ws.ping(b"hotfix-bot")
                except (websocket.WebSocketException, OSError):
                    conn.kill()


class SocketModeHandler(BaseSocketModeHandler):
    """Bolt's Socket Mode adapter around our client."""

    def __init__(self, app: App, client: SocketModeClient) -> None:
        self.app = app
        self.client = client
        client.socket_mode_request_listeners.append(self.handle)

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        started = time.time()
        response = run_bolt_app(self.app, req)
        send_response(client, req, response, started)
