"""Tokens and the signing secret never reach a log line, even at debug level."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.bot_process import REPO
from tests.harness.running_bot import SIGNING_SECRET
from tests.harness.slack_driver import SlackDriver
from tests.harness.slack_emulator import SlackEmulator

pytestmark = pytest.mark.e2e

BOT_TOKEN = "xoxb-1234567890-secret-bot-token"
APP_TOKEN = "xapp-1-secret-app-token"


def test_a_full_run_at_debug_level_logs_no_secret(tmp_path: Path) -> None:
    slack = SlackEmulator(bot_token=BOT_TOKEN)
    slack.add_user("U0ALICE", "alice")
    slack.add_channel("general", channel_id="C0GENERAL", members=("UBOT", "U0ALICE"))
    config = tmp_path / "hotfix.yml"
    config.write_text(f"store:\n  path: {tmp_path / 'bot.db'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
    log_path = tmp_path / "bot.log"
    with slack:
        env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
        )
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "-v",
                    "--config",
                    str(config),
                    "serve",
                    "--http",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            try:
                assert process.stdout is not None
                url = process.stdout.readline().removeprefix("listening on ").strip()
                driver = SlackDriver(bot_url=url, signing_secret=SIGNING_SECRET, emulator=slack)
                declared = driver.slash('incident create --severity=sev2 --title="Token test"')
                slack.wait_for_response(declared.response_id, timeout=20)
                slack.fail("chat.postMessage", "invalid_auth")  # an error path logs too
                noted = driver.slash("incident update --incident INC-1 --message=checking")
                slack.wait_for_response(noted.response_id, timeout=20)
                assert driver.slash("help", secret="forged").status == 401
            finally:
                process.terminate()
                process.wait(timeout=10)
    text = log_path.read_text()
    assert "Sending a request" in text or "chat.postMessage" in text  # debug logging really ran
    for secret in (BOT_TOKEN, SIGNING_SECRET):
        assert secret not in text
    assert "[redacted]" in text or BOT_TOKEN[:12] not in text
