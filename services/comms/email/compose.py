"""The email itself: headers, threading and a multipart/alternative body, byte for byte
the same every time it is composed from the same delivery (so a mail sent again after a
crash is the same message, which mail clients dedupe by its Message-ID)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

SUBJECT_LIMIT = 150
# Bidirectional overrides, embeddings and isolates: in a subject they can make a mail
# client show text in another order than it was written ("evil.exe" as "exe.live").
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")


def clean_header(text: str, *, limit: int = SUBJECT_LIMIT) -> str:
    """One line, no control characters (no header injection), at most `limit` chars."""
    one_line = " ".join(_CONTROL.sub(" ", _BIDI_CONTROLS.sub("", text)).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Thread:
    """Where a mail sits in its incident's thread for one audience."""

    message_id: str  # "<…@domain>"
    root: str | None  # the thread's first mail; None: this one is it


@dataclass(frozen=True)
class Mail:
    sender: str
    to: list[str]  # empty: the recipients are not shown to each other (customers)
    subject: str
    text: str
    html: str
    date: datetime
    thread: Thread
    incident_id: str | None  # shown to internal readers (X-Hotfix-Incident)


def message_id(*parts: str, domain: str) -> str:
    local = ".".join(re.sub(r"[^A-Za-z0-9-]+", "-", part).strip("-").lower() for part in parts)
    return f"<{local}@{domain}>"


def compose(mail: Mail) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.to) if mail.to else "undisclosed-recipients:;"
    message["Subject"] = clean_header(mail.subject)
    message["Date"] = format_datetime(mail.date)
    message["Message-ID"] = mail.thread.message_id
    if mail.thread.root is not None:
        message["In-Reply-To"] = mail.thread.root
        message["References"] = mail.thread.root
    # RFC 3834: no vacation auto-replies to the bot, no loops.
    message["Auto-Submitted"] = "auto-generated"
    if mail.incident_id is not None:
        message["X-Hotfix-Incident"] = mail.incident_id
    # Quoted-printable keeps every line short and ASCII, and cannot contain the boundary
    # ("=_" is no valid QP escape), whatever the text says.
    message.set_content(_lines(mail.text), subtype="plain", cte="quoted-printable")
    message.add_alternative(_lines(mail.html), subtype="html", cte="quoted-printable")
    digest = hashlib.sha256(mail.thread.message_id.encode()).hexdigest()[:32]
    message.set_boundary(f"=_hotfix_{digest}")
    return message.as_bytes()


def _lines(text: str) -> str:
    """Line ends as one newline, and a final one (the parts read the same everywhere)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n"
