"""A real SMTP server for the tests: aiosmtpd in a thread on a free localhost port.

It records what arrived (the envelope and the parsed message), and can be told to refuse
some recipients for good (550, RFC 5321 §4.2.2 "mailbox unavailable"), to answer the end
of data with a code, to offer STARTTLS with a throwaway certificate and require AUTH.
It can be stopped and started again on the same port (the relay is down, then back).
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    login: str | None  # the AUTH user of the session, None: no AUTH
    tls: bool  # STARTTLS was used

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return None if value is None else str(value)

    def part(self, subtype: str) -> str:
        found = self.message.get_body(preferencelist=(subtype,))
        assert found is not None, f"no text/{subtype} part"
        content: str = found.get_content()  # type: ignore[attr-defined]
        return content.replace("\r\n", "\n")  # as sent: line ends are CRLF on the wire


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost (openssl, as on any CI image)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Behaviour:
    refuse: dict[str, str] = field(default_factory=dict)  # address -> "550 …"
    end_of_data: str | None = None  # e.g. "451 4.3.0 try later"; None: accept


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.server.behaviour.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        if self.server.behaviour.end_of_data:
            with self.server.lock:
                self.server.rejected.append(raw)
            return self.server.behaviour.end_of_data
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        with self.server.lock:
            self.server.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    raw=raw,
                    message=parsed,  # type: ignore[arg-type]
                    login=login,
                    tls=session.ssl is not None,
                )
            )
            number = len(self.server.received)
        return f"250 2.0.0 OK queued as Q{number}"


class SmtpServer:
    def __init__(
        self,
        *,
        tls_files: tuple[Path, Path] | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        self.rejected: list[bytes] = []  # what was answered with `end_of_data`
        self.lock = threading.Lock()
        self.users = users
        self.tls_context: ssl.SSLContext | None = None
        if tls_files is not None:
            self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls_context.load_cert_chain(str(tls_files[0]), str(tls_files[1]))
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        parameters: dict[str, Any] = {}
        if self.tls_context is not None:
            parameters.update(tls_context=self.tls_context, require_starttls=True)
        if self.users is not None:
            parameters.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **parameters
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.users is not None
        ok = isinstance(auth_data, LoginPassword) and (
            self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)
