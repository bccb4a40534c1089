"""A bot that takes CI webhooks: the secrets in its environment, `payments` matched to the
acme/payments repository and project, and a sender that signs what it posts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.clock import ManualClock
from tests.harness.ci_payloads import CiSender
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

SECRET = "gh-webhook-secret-5c1e"
TOKEN = "gl-webhook-token-77aa"
REPOSITORY = "acme/payments"


def start_ci_bot(
    *,
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    payments: dict[str, Any] | None = None,
    ci: dict[str, Any] | None = None,
) -> RunningBot:
    """`payments`: more of the service's settings (git, environments); `ci`: more of its
    `ci:` section (required workflows)."""
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("GITLAB_WEBHOOK_TOKEN", TOKEN)
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    service = {
        "ci": {"github_repository": REPOSITORY, "gitlab_project": REPOSITORY, **(ci or {})},
        **(payments or {}),
    }
    settings = {
        "services": {"payments": service},
        "access": {"deployers": ["U0ALICE"]},
        "incidents": {"announcement_channel": "C0INCIDENTS"},
    }
    return start_bot(
        slack=slack, store_path=tmp_path / "bot.db", clock=clock, extra_settings=settings
    )


def sender(bot: RunningBot) -> CiSender:
    """Posts to the bot's HTTP server, signed with the secrets the bot was given."""
    return CiSender(f"http://127.0.0.1:{bot.server.port}", github_secret=SECRET, gitlab_token=TOKEN)
