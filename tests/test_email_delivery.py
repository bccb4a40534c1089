"""Email delivery when things go wrong: a crash between send and record (a real bot process
killed at its checkpoint), a relay that is down, 451 and 550 answers, STARTTLS with AUTH."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.wiring import build_deps, close_deps
from handlers.console.chat import ConsoleChat
from handlers.core.context import Deps
from services import timeline
from services.clock import ManualClock
from services.comms import deliveries
from services.comms.deliveries import State
from services.settings import Settings
from tests.conftest import REPO_ROOT
from tests.harness.email_fixtures import (
    CUSTOMERS,
    EXECS,
    SUPPORT,
    console,
    email_settings,
    settle,
    wait_for,
)
from tests.harness.email_sender import CRASHED
from tests.harness.smtp_server import SmtpServer, self_signed_certificate

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEV1 = 'incident create --severity=sev1 --title="Payments failing"'
SEV2 = 'incident create --severity=sev2 --title="Search is slow"'  # support only


def comms_events(deps: Deps, kind: str = "comms_sent") -> list[timeline.TimelineEvent]:
    return [e for e in timeline.events(deps.store, incident_id="INC-1") if e.kind == kind]


def queued_without_sending(deps: Deps, command: str, count: int) -> None:
    """Declare, with this process not delivering (the queue is left to the bot process)."""
    deps.comms.may_deliver = lambda: False
    console(deps).handle(command)
    wait_for(deps, lambda: planned(deps) == count, f"{count} deliveries planned")


def planned(deps: Deps) -> int:
    return len(deliveries.for_incident(deps.store, "INC-1"))


def run_bot_until_crash(email_bot_settings: dict[str, Any], crash_at: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.harness.email_sender",
            json.dumps(email_bot_settings),
            crash_at,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == CRASHED, done.stderr


def test_a_bot_killed_after_sealing_the_mail_does_not_send_it_again_and_says_so(
    edeps: Deps, smtp: SmtpServer, email_bot_settings: dict[str, Any]
) -> None:
    queued_without_sending(edeps, SEV1, 3)
    run_bot_until_crash(email_bot_settings, "sealed")
    # The relay never read the final ".": it dropped the unterminated mail.
    assert smtp.messages() == []
    execs = deliveries.for_incident(edeps.store, "INC-1")[0]
    assert (execs.audience, execs.state, execs.checkpoint) == ("execs", State.SENDING, "sealed")

    edeps.comms.may_deliver = lambda: True  # the bot restarts
    mails = settle(edeps, smtp, 2)
    assert [m.rcpt_tos for m in mails] == [SUPPORT, CUSTOMERS]  # execs' mail not sent again
    (unconfirmed,) = [e for e in comms_events(edeps) if e.data["audience"] == "execs"]
    assert "delivery unconfirmed" in unconfirmed.text
    assert "it is not sent again" in unconfirmed.text
    assert all(d.state is State.SENT for d in deliveries.for_incident(edeps.store, "INC-1"))


def test_a_bot_killed_after_the_relay_took_the_mail_records_it_without_sending_it_again(
    edeps: Deps, smtp: SmtpServer, email_bot_settings: dict[str, Any]
) -> None:
    queued_without_sending(edeps, SEV1, 3)
    run_bot_until_crash(email_bot_settings, "delivered")
    assert [m.rcpt_tos for m in smtp.messages()] == [EXECS]  # taken, but never recorded
    edeps.comms.may_deliver = lambda: True
    mails = settle(edeps, smtp, 3)
    assert [m.rcpt_tos for m in mails] == [EXECS, SUPPORT, CUSTOMERS]  # execs once
    texts = [e.text for e in comms_events(edeps)]
    assert texts[0] == "Emailed execs (2 recipients): “[SEV1] INC-1: Payments failing”"
    assert len(texts) == 3


def test_a_relay_that_is_down_holds_the_mail_until_it_is_back(
    edeps: Deps, smtp: SmtpServer, clock: ManualClock, printed: io.StringIO
) -> None:
    smtp.stop()
    alice = console(edeps)
    said = alice.handle(SEV2)
    assert "INC-1" in said  # the war room is not held up
    wait_for(edeps, lambda: planned(edeps) == 1 and postponed(edeps), "a postponed delivery")
    (waiting,) = deliveries.for_incident(edeps.store, "INC-1")
    assert waiting.state is State.QUEUED
    assert waiting.error is not None and "cannot reach the mail relay" in waiting.error
    assert comms_events(edeps) == []

    smtp.start()  # back, on the same port
    clock.advance(timedelta(minutes=1))
    (mail,) = settle(edeps, smtp, 1)
    assert mail.rcpt_tos == SUPPORT
    assert "failed" not in printed.getvalue()


def postponed(deps: Deps) -> bool:
    return all(
        d.error and d.state is State.QUEUED for d in deliveries.for_incident(deps.store, "INC-1")
    )


def test_a_451_at_the_end_of_data_is_retried_with_the_very_same_message(
    edeps: Deps, smtp: SmtpServer, clock: ManualClock
) -> None:
    smtp.behaviour.end_of_data = "451 4.3.0 Temporary local problem"
    console(edeps).handle(SEV2)
    wait_for(edeps, lambda: planned(edeps) == 1 and postponed(edeps), "a postponed delivery")
    (first,) = smtp.rejected
    smtp.behaviour.end_of_data = None
    clock.advance(timedelta(minutes=1))
    (mail,) = settle(edeps, smtp, 1)
    assert mail.raw == first  # same Message-ID, same boundary, same bytes
    assert "Emailed support" in comms_events(edeps)[0].text


def test_550_for_every_recipient_fails_the_delivery_and_tells_the_war_room(
    edeps: Deps, smtp: SmtpServer, printed: io.StringIO
) -> None:
    smtp.behaviour.refuse[SUPPORT[0]] = "550 5.1.1 Requested action not taken: mailbox unavailable"
    console(edeps).handle(SEV2)
    wait_for(edeps, lambda: bool(comms_events(edeps, "comms_failed")), "the failure")
    (failed,) = comms_events(edeps, "comms_failed")
    assert "every recipient was refused: support@example.com (550 5.1.1" in failed.text
    out = printed.getvalue()
    # Said in the war room: as it comes, or (refused while the room was still being opened)
    # in the room's "some steps did not work" message; once either way.
    told = [line for line in out.splitlines() if "The email send of INC-1 failed" in line]
    assert len(told) == 1 and "will not be retried" in told[0]
    said_in = [m for m in out.split("\n[") if "The email send of INC-1 failed" in m]
    assert len(said_in) == 1 and said_in[0].startswith("#inc-1-search-is-slow ")
    assert "support@example.com (550 5.1.1 Requested action not taken" in out
    assert smtp.messages() == []


def test_550_for_some_recipients_delivers_to_the_others_and_tells_the_war_room(
    edeps: Deps, smtp: SmtpServer, printed: io.StringIO
) -> None:
    smtp.behaviour.refuse[EXECS[1]] = "550 5.1.1 mailbox unavailable"
    console(edeps).handle(SEV1)
    mails = settle(edeps, smtp, 3)
    assert mails[0].rcpt_tos == [EXECS[0]]
    assert mails[0].header("To") == ", ".join(EXECS)  # the mail is the audience's
    execs = comms_events(edeps)[0]
    assert execs.text.startswith("Emailed execs (1 recipient)")
    assert "Refused by the mail relay: cto@example.com (550 5.1.1 mailbox unavailable)" in (
        execs.text
    )
    # Nothing silent: the war room is told who missed the mail, once.
    wait_for(edeps, lambda: bool(comms_events(edeps, "comms_failed")), "the refusal reported")
    (failed,) = comms_events(edeps, "comms_failed")
    assert failed.data["audience"] == "execs"
    told = [line for line in printed.getvalue().splitlines() if "failed and will not" in line]
    assert len(told) == 1
    assert (
        "the mail relay refused cto@example.com (550 5.1.1 mailbox unavailable): they did not"
        " get “[SEV1] INC-1: Payments failing” (to execs); the other recipients did" in told[0]
    )


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    try:
        return self_signed_certificate(tmp_path)
    except FileNotFoundError:
        pytest.skip("openssl is not installed")


@pytest.fixture
def secure_smtp(tls_files: tuple[Path, Path]) -> Any:
    server = SmtpServer(tls_files=tls_files, users={"incident-bot": "pa55-w0rd!"}).start()
    yield server
    server.stop()


@pytest.fixture
def secure_settings(
    tmp_path: Path, secure_smtp: SmtpServer, tls_files: tuple[Path, Path]
) -> dict[str, Any]:
    section = email_settings(secure_smtp.port, starttls=True, ca_file=str(tls_files[0]))
    return {"store": {"path": str(tmp_path / "bot.db")}, "email": section}


@pytest.fixture
def secure_bot(
    secure_settings: dict[str, Any],
    clock: ManualClock,
    printed: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Callable[[str], Deps]]:
    """Starts the bot with SMTP_USERNAME and the given SMTP_PASSWORD, and declares a SEV2."""
    started: list[Deps] = []

    def start(password: str) -> Deps:
        monkeypatch.setenv("SMTP_USERNAME", "incident-bot")
        monkeypatch.setenv("SMTP_PASSWORD", password)
        caplog.set_level(logging.DEBUG)
        deps = build_deps(
            Settings.model_validate(secure_settings),
            clock=clock,
            chat=lambda renderer, _store, _clock: ConsoleChat(renderer, out=printed),
        )
        started.append(deps)
        console(deps).handle(SEV2)
        return deps

    yield start
    for deps in started:
        close_deps(deps)


def test_starttls_and_auth_with_credentials_from_the_environment(
    secure_bot: Callable[[str], Deps],
    secure_smtp: SmtpServer,
    printed: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deps = secure_bot("pa55-w0rd!")
    (mail,) = settle(deps, secure_smtp, 1)
    assert (mail.tls, mail.login, mail.rcpt_tos) == (True, "incident-bot", SUPPORT)
    assert "pa55-w0rd!" not in caplog.text + printed.getvalue()


def test_a_wrong_password_is_refused_and_told_without_the_password(
    secure_bot: Callable[[str], Deps],
    secure_smtp: SmtpServer,
    printed: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deps = secure_bot("not-the-Pa55word")
    wait_for(deps, lambda: bool(comms_events(deps, "comms_failed")), "the failure")
    (failed,) = comms_events(deps, "comms_failed")
    assert "refused the login: 535" in failed.text
    assert "refused the login: 535" in printed.getvalue()
    assert "Check the SMTP username and password in the bot's environment" in failed.text
    assert "not-the-Pa55word" not in caplog.text + printed.getvalue() + failed.text
    assert secure_smtp.messages() == []


def test_a_connection_lost_after_the_seal_is_unconfirmed_and_nothing_arrives(
    smtp: SmtpServer,
) -> None:
    from services.comms.email.client import MailUnconfirmed, SmtpClient

    client = SmtpClient(
        host="127.0.0.1", port=smtp.port, starttls=False, timeout=10, credentials=None
    )
    marks: list[str] = []

    def relay_dies_at_the_seal(mark: str) -> None:
        marks.append(mark)
        if mark == "sealed":
            smtp.stop()  # the relay goes away before it reads the "."

    with pytest.raises(MailUnconfirmed, match="lost while it confirmed the mail"):
        client.send(
            b"Subject: hi\r\n\r\nbody\r\n",
            sender="incidents@example.com",
            recipients=SUPPORT,
            checkpoint=relay_dies_at_the_seal,
        )
    assert marks == ["sealed"]
    assert smtp.messages() == []


def test_a_relay_that_never_answers_times_out_as_try_later() -> None:
    import socket

    from services.comms.email.client import MailTemporary, SmtpClient

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = SmtpClient(
            host="127.0.0.1",
            port=silent.getsockname()[1],
            starttls=False,
            timeout=0.5,
            credentials=None,
        )
        with pytest.raises(MailTemporary, match=r"did not answer within 0\.5 s"):
            client.send(b"x", sender="a@example.com", recipients=SUPPORT, checkpoint=print)
