"""The one module that talks SMTP (stdlib smtplib), with its own error tree.

- `MailTemporary` (a `RetryLater`): the relay cannot be reached, times out, or answers 4xx;
  the same mail may be sent later (nobody got it).
- `MailRefused` (a `Refused`): 5xx, for good — every recipient refused, the message
  rejected, the login refused, STARTTLS missing or the certificate untrusted.
- `MailUnconfirmed`: the connection was lost after the mail was sealed (see `send`): it
  may or may not have been delivered, and sending it again could deliver it twice.

Exactly once: `send` writes the whole message after DATA but holds back the terminating
"." and calls `checkpoint(SEALED)` first. A relay that loses the connection before it
reads the "." discards the unterminated mail (RFC 5321 §4.1.1.4: the transaction is only
complete at the end of data); one that read it has delivered it. So a sender that finds
its mark SEALED must not send again: the risk taken is losing the mail when the bot dies
in that window (microseconds, between the commit and the "."), never sending it twice.
Credentials are used for AUTH only; they are never logged and never put in an error.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.comms.errors import CommsError, Refused, RetryLater

SEALED = "sealed"  # the whole mail written, "." not yet: never resend from here
REJECTED = "rejected"  # the relay answered the "." with an error: nobody got it
END_OF_DATA_TIMEOUT = 120.0  # seconds for the answer to the "."

Checkpoint = Callable[[str], None]


class MailError(CommsError):
    """Any problem talking to the mail relay. The hint (what to do) is part of the message,
    which is what the timeline and the war room are told (so it is not kept apart as well:
    the dispatcher would say it twice)."""

    def __init__(self, message: str, *, hint: str | None = None, **more: Any) -> None:
        super().__init__(f"{message}. {hint}" if hint else message, **more)


class MailTemporary(MailError, RetryLater):
    """Not now: the relay is down or slow, or answered 4xx. Nobody got the mail."""


class MailRefused(MailError, Refused):
    """Never: the relay refused for good (5xx), with what it said."""


class MailUnconfirmed(MailError):
    """The connection was lost after the mail was sealed: delivered or dropped, unknown."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:  # never the password, even in a traceback's locals
        return f"Credentials(username={self.username!r})"


@dataclass(frozen=True)
class Delivered:
    accepted: list[str]
    refused: dict[str, str]  # address -> what the relay said (5xx)
    reply: str  # the relay's answer to the ".", often its queue id


def _said(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"[:300]


def smtp_data(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled (RFC 5321
    §4.5.2), ending in CRLF, without the terminating "."."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


@dataclass(frozen=True, kw_only=True)
class SmtpClient:
    host: str
    port: int
    starttls: bool
    timeout: float
    credentials: Credentials | None
    ca_file: Path | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def send(
        self, message: bytes, *, sender: str, recipients: Sequence[str], checkpoint: Checkpoint
    ) -> Delivered:
        """Deliver `message` to `recipients` in one transaction; see the module's docstring."""
        smtp = self._connect()
        try:
            refused = self._envelope(smtp, sender, recipients)
            accepted = [r for r in recipients if r not in refused]
            if not accepted:
                self._reset(smtp)
                raise MailRefused(
                    "every recipient was refused: "
                    + "; ".join(f"{r} ({why})" for r, why in refused.items()),
                    hint="Check the audience's addresses in email.audiences.",
                )
            reply = self._data(smtp, message, checkpoint)
            self._quit(smtp)
            return Delivered(accepted=accepted, refused=refused, reply=reply)
        finally:
            smtp.close()

    def _connect(self) -> smtplib.SMTP:
        try:
            # Connected by the constructor (its greeting not 220: SMTPConnectError), which
            # also keeps the host name STARTTLS checks the certificate against.
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except BaseException as exc:
            raise self._translate(exc) from None
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.starttls:
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if self.credentials is not None:
                smtp.login(self.credentials.username, self.credentials.password)
        except BaseException as exc:
            smtp.close()
            raise self._translate(exc) from None
        return smtp

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        return context

    def _envelope(
        self, smtp: smtplib.SMTP, sender: str, recipients: Sequence[str]
    ) -> dict[str, str]:
        """MAIL FROM and RCPT TO; the recipients refused for good (5xx). A 4xx for anyone
        makes the whole mail wait, so that nobody gets it twice."""
        try:
            code, said = smtp.mail(sender)
            self._expect(code, said, 250, "MAIL FROM")
            refused: dict[str, str] = {}
            for recipient in recipients:
                code, said = smtp.rcpt(recipient)
                if code in (250, 251):
                    continue
                if 500 <= code < 600:
                    refused[recipient] = _said(code, said)
                    continue
                raise MailTemporary(
                    f"{self.where} cannot take mail for {recipient} now: {_said(code, said)}"
                )
            return refused
        except MailError:
            self._reset(smtp)
            raise
        except BaseException as exc:
            raise self._translate(exc) from None

    def _data(self, smtp: smtplib.SMTP, message: bytes, checkpoint: Checkpoint) -> str:
        try:
            smtp.putcmd("data")
            code, said = smtp.getreply()
            self._expect(code, said, 354, "DATA")
            smtp.send(smtp_data(message))
        except MailError:
            self._reset(smtp)
            raise
        except BaseException as exc:
            raise self._translate(exc) from None
        checkpoint(SEALED)  # committed: from here on, never send this mail again
        try:
            if smtp.sock is not None:
                # The relay delivers before it answers the "." (RFC 5321 §4.5.3.2 asks
                # clients to wait 10 min here): a short wait would only make the mail
                # "unconfirmed". Shorter than 10 min: the rest of the queue waits meanwhile.
                smtp.sock.settimeout(max(self.timeout, END_OF_DATA_TIMEOUT))
            smtp.send(b".\r\n")
            code, said = smtp.getreply()
        except BaseException as exc:
            raise MailUnconfirmed(
                f"the connection to {self.where} was lost while it confirmed the mail"
                f" ({type(exc).__name__})"
            ) from None
        if code == 250:
            return _said(code, said)
        checkpoint(REJECTED)  # the relay answered: it did not take the mail
        if 400 <= code < 500:
            raise MailTemporary(f"{self.where} did not take the mail now: {_said(code, said)}")
        raise MailRefused(f"{self.where} rejected the mail: {_said(code, said)}")

    def _expect(self, code: int, said: bytes | str, wanted: int, step: str) -> None:
        if code == wanted:
            return
        if 400 <= code < 500 or code == -1:
            raise MailTemporary(f"{self.where} answered {step} with {_said(code, said)}")
        hint = (
            "The relay wants a login (or STARTTLS first): set the variables named by"
            " email.username_env and email.password_env, and email.starttls."
            if code == 530
            else None
        )
        raise MailRefused(f"{self.where} refused {step}: {_said(code, said)}", hint=hint)

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, MailError) or not isinstance(exc, Exception):
            return exc
        where = self.where
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return MailRefused(
                f"{where} refused the login: {_said(exc.smtp_code, exc.smtp_error)}",
                hint="Check the SMTP username and password in the bot's environment.",
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return MailRefused(
                f"{where} does not offer {'STARTTLS' if self.starttls else 'AUTH'}",
                hint="Set email.starttls to match the relay, or use its submission port.",
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            code = exc.smtp_code
            said = _said(code, exc.smtp_error)
            if 400 <= code < 500:
                return MailTemporary(f"{where} answered {said}")
            return MailRefused(f"{where} refused: {said}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return MailRefused(
                f"{where}'s certificate is not trusted: {exc.verify_message}",
                hint="Set email.ca_file to the CA that signed the relay's certificate.",
            )
        # smtplib reports a read that timed out as a closed connection ("…: timed out").
        if isinstance(exc, socket.timeout | TimeoutError) or "timed out" in str(exc):
            return MailTemporary(f"{where} did not answer within {self.timeout:g} s")
        if isinstance(exc, OSError):  # refused, reset, unreachable, disconnected
            return MailTemporary(f"cannot reach the mail relay {where}: {exc.strerror or exc}")
        return MailTemporary(f"talking to {where} failed: {type(exc).__name__}")

    @staticmethod
    def _reset(smtp: smtplib.SMTP) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.rset()

    @staticmethod
    def _quit(smtp: smtplib.SMTP) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
