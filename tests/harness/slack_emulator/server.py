"""The HTTP side: binding a port, reading a request into a Web API call, and routing
``/api/``, ``/upload/``, ``/response/`` and the Socket Mode endpoint."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from tests.harness import slack_scopes, socket_mode
from tests.harness.slack_emulator.model import (
    _HTML_BODY,
    _JSON_STRING_ARGS,
    JSON,
    SOCKET_MODE_PATH,
    ApiCall,
    _parse_multipart,
)
from tests.harness.slack_emulator.state import EmulatorState


class Server(EmulatorState):
    """Serves the emulator over HTTP on a free localhost port."""

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"emulator": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        with self._lock:
            self._socket_closing = False
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving.  Socket Mode connections get a close frame (1001,
        going away) and are shut down."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            # Closed before the WebSockets: a client that reconnects on close
            # is refused at once instead of waiting in the listen backlog.
            server.server_close()
        self._close_sockets(socket_mode.CLOSE_GOING_AWAY, "server shutting down")
        with self._lock:
            pinger, self._pinger = self._pinger, None
        self._pinger_stop.set()
        if pinger is not None:
            pinger.join(timeout=5)
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``: pass as ``WebClient(base_url=...)``."""
        return f"{self.base_url}/api/"

    def _handle_http(self, req: BaseHTTPRequestHandler) -> None:
        split = urlsplit(req.path)
        if split.path.startswith(SOCKET_MODE_PATH):
            self._handle_socket_mode(req, split.path[len(SOCKET_MODE_PATH) :])
            return
        raw_headers = dict(req.headers.items())
        headers = {k.lower(): v for k, v in raw_headers.items()}
        length = int(headers.get("content-length") or 0)
        body = req.rfile.read(length) if length > 0 else b""
        path = split.path
        hook = self.call_hook
        if path.startswith("/api/"):
            method = path[len("/api/") :]
            if hook and hook(method, "before"):
                req.close_connection = True
                return
            status, headers, payload = self._handle_api(
                req.command, method, split.query, headers, body, raw_headers
            )
            if hook:
                hook(method, "after")
        elif path.startswith("/upload/v1/") and req.command == "POST":
            status, headers, payload = self._handle_upload(
                path[len("/upload/v1/") :], headers, body
            )
        elif path.startswith("/response/") and req.command == "POST":
            if hook and hook("response_url", "before"):
                req.close_connection = True
                return
            status, headers, payload = self._handle_response_url(
                path[len("/response/") :], headers, body
            )
            if hook:
                hook("response_url", "after")
        else:
            status, headers, payload = 404, {"Content-Type": "text/plain"}, b"Not Found"
        req.send_response(status)
        for key, value in headers.items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(payload)))
        req.send_header("Connection", "close")
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(payload)

    def _handle_api(
        self,
        http_method: str,
        method: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        raw_headers: Mapping[str, str],
    ) -> tuple[int, dict[str, str], bytes]:
        content_type_header = headers.get("content-type") or ""
        media_type = content_type_header.split(";")[0].strip().lower()
        args: JSON = dict(parse_qsl(query, keep_blank_values=True))
        token: str | None = None
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        body_error: str | None = None
        body_args: JSON = {}
        if body:
            if media_type == "application/json":
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    body_error = "invalid_json"
                else:
                    if not isinstance(parsed, dict):
                        body_error = "invalid_json"
                    elif method not in slack_scopes.READ_METHODS:
                        body_args = {k: v for k, v in parsed.items() if k != "token"}
            elif media_type == "application/x-www-form-urlencoded":
                body_args = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            elif media_type == "multipart/form-data":
                body_args = _parse_multipart(content_type_header, body)
            elif not media_type:
                body_error = "missing_post_type"
            else:
                body_error = "invalid_post_type"
        args.update(body_args)
        args = {k: v for k, v in args.items() if v is not None}
        form_token = args.pop("token", None)
        if token is None and isinstance(form_token, str) and form_token:
            token = form_token
        for key in _JSON_STRING_ARGS & set(args):
            value = args[key]
            if isinstance(value, str):
                # left as a string when not JSON: the handler reports the format error
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)

        with self._lock:
            now = self.clock()
            status, extra_headers, response = self._dispatch(method, args, token, body_error)
            self._calls.append(
                ApiCall(
                    method=method,
                    args=copy.deepcopy(args),
                    content_type=media_type,
                    status=status,
                    response=copy.deepcopy(response),
                    time=now,
                    http_method=http_method,
                    token=token,
                    raw_body=body,
                    headers=dict(raw_headers),
                )
            )
        self._notify()
        if _HTML_BODY in response:
            return status, extra_headers, str(response[_HTML_BODY]).encode("utf-8")
        out_headers = {"Content-Type": "application/json; charset=utf-8", **extra_headers}
        return status, out_headers, json.dumps(response).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    emulator: Server
    server_version = "SlackEmulator/1.0"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.emulator._handle_http(self)

    def do_POST(self) -> None:
        self.emulator._handle_http(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass
