"""What the mail says when people type hostile things, and what the configuration accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import ConfigError, load_config
from handlers.core.context import Deps
from services.clock import ManualClock
from services.comms import deliveries
from tests.harness.email_fixtures import (
    CUSTOMERS,
    EXECS,
    SUPPORT,
    console,
    settle,
)
from tests.harness.smtp_server import SmtpServer

pytestmark = pytest.mark.e2e

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
HOSTILE_TITLE = (
    f"Checkout down\r\nBcc: victim@evil.test\r\n\r\n<script>alert(1)</script> {RLO}gnp.exe "
    + "x" * 10_000
)
HOSTILE_MESSAGE = (
    '<img src=x onerror="alert(1)"><a href="https://evil.test">click</a> & \u05e9\u05dc\u05d5\u05dd '
    + RLO
    + "\n.\nBcc: victim@evil.test\n"
    + "y" * 10_000
)


def hostile_incident(deps: Deps) -> None:
    alice = console(deps)
    alice.handle(f"incident create --severity=sev1 --title={_quoted(HOSTILE_TITLE)}")
    alice.handle(
        f"incident update --status=identified --message={_quoted(HOSTILE_MESSAGE)} --broadcast"
    )


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_hostile_titles_and_updates_inject_no_header_and_no_html(
    edeps: Deps, smtp: SmtpServer
) -> None:
    hostile_incident(edeps)
    mails = settle(edeps, smtp, 5)
    for mail in mails:
        assert "victim@evil.test" not in mail.rcpt_tos
        assert mail.message["Bcc"] is None
        subject = mail.header("Subject") or ""
        assert "\n" not in subject and "\r" not in subject and RLO not in subject
        assert len(subject) <= 150
        html = mail.part("html")
        assert "<script>" not in html and "<img" not in html and "<a href" not in html
    execs = [m for m in mails if m.rcpt_tos == EXECS]
    assert (execs[0].header("Subject") or "").startswith(
        "[SEV1] INC-1: Checkout down Bcc: victim@evil.test <script>alert(1)</script> gnp.exe xxx"
    )
    assert (execs[0].header("Subject") or "").endswith("…")
    update = execs[1]
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&lt;a href=&#34;" in update.part("html")
    assert "&amp; \u05e9\u05dc\u05d5\u05dd" in update.part("html")
    text = update.part("plain")
    assert "y" * 10_000 in text  # 10 KB arrive whole (quoted-printable keeps lines short)
    assert "\n.\nBcc: victim@evil.test\n" in text  # a lone "." ended nothing (dot-stuffed)
    assert all(len(line) <= 998 for line in update.raw.split(b"\r\n"))
    # Customers read none of it.
    for mail in mails:
        if mail.rcpt_tos == CUSTOMERS:
            raw = mail.raw.decode()
            assert "script" not in raw and "evil" not in raw and "Checkout" not in raw


def test_raising_the_severity_tells_the_audiences_the_new_severity_adds(
    edeps: Deps, smtp: SmtpServer, clock: ManualClock
) -> None:
    alice = console(edeps)
    alice.handle('incident create --severity=sev2 --title="Search is slow"')
    (_support,) = settle(edeps, smtp, 1)  # sev2: support only
    alice.handle("incident severity sev1")
    mails = settle(edeps, smtp, 3)
    assert [m.rcpt_tos for m in mails] == [SUPPORT, EXECS, CUSTOMERS]  # support not again
    assert mails[1].header("Subject") == "[SEV1] INC-1: Search is slow"
    alice.handle("incident severity sev2")
    alice.handle("incident severity sev1")
    settle(edeps, smtp, 3)
    assert len(smtp.messages()) == 3  # an initial notification is sent once per incident
    assert len(deliveries.for_incident(edeps.store, "INC-1")) == 3


def test_a_severity_naming_an_undefined_audience_is_a_config_error_on_its_line(
    tmp_path: Path,
) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text(
        "email:\n"
        "  smtp_host: smtp.example.com\n"
        "  from: incidents@example.com\n"
        "  audiences:\n"
        "    execs: {to: [ceo@example.com], messages: executive}\n"
        "    customers: {to: [ops@customer.test], messages: customer}\n"
        "  severities:\n"
        "    sev1:\n"
        "      declared: [execs, customers]\n"
        "      resolved:\n"
        "        - execs\n"
        "        - exec\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    report = raised.value.report()
    assert (
        f"{config}:12: email.severities.sev1.resolved.1: no audience 'exec' under"
        " email.audiences (defined: customers, execs)" in report
    )


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("ceo@example.com", True),
        ("first.last+incidents@mail.example.co.uk", True),
        ("ceo@example.com\r\nBcc: x@evil.test", False),
        ("Boss <ceo@example.com>", False),
        ("a@b.com, c@d.com", False),
        ("ceo@", False),
    ],
)
def test_audience_addresses_are_plain_addresses(tmp_path: Path, address: str, ok: bool) -> None:
    from pydantic import ValidationError

    from services.comms.email.settings import EmailSettings

    data = {"smtp_host": "h", "from": "bot@example.com", "audiences": {"a": {"to": [address]}}}
    if ok:
        EmailSettings.model_validate(data)
    else:
        with pytest.raises(ValidationError):
            EmailSettings.model_validate(data)


def test_the_commented_example_is_valid_configuration() -> None:
    from bot.config import EXAMPLE_CONFIG
    from services.comms.email.settings import EmailSettings

    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    lines = text[text.index("# email:") :].splitlines()
    # The commented block ends at the first line that is not a comment (other sections follow).
    end = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    block = lines[:end]
    data = yaml.safe_load("\n".join(line.removeprefix("#") for line in block))
    settings = EmailSettings.model_validate(data["email"])
    assert settings.audiences["customers"].messages == "customer"
    assert settings.domain == "example.com"


def test_the_smtp_password_is_a_secret_and_the_username_is_not() -> None:
    # A username inside HOME or a path must not make children lose them, or logs garble.
    from bot.secrets import secret_env_names
    from services.settings import Settings

    settings = Settings.model_validate(
        {"email": {"smtp_host": "relay.example.com", "from": "bot@example.com"}}
    )
    names = secret_env_names(settings)
    assert "SMTP_PASSWORD" in names
    assert "SMTP_USERNAME" not in names


def test_an_audience_that_does_not_say_what_it_reads_gets_the_customer_words_only() -> None:
    from services.comms.email.settings import EmailSettings

    settings = EmailSettings.model_validate(
        {
            "smtp_host": "relay.example.com",
            "from": "bot@example.com",
            "audiences": {"partners": {"to": ["ops@partner.test"]}},
        }
    )
    assert settings.audiences["partners"].messages == "customer"
