"""In Socket Mode the CI webhooks are served by the operations server on `slack.health_port`
(the real `hotfix-bot serve` process)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.harness.ci_payloads import CiSender, post, workflow_run
from tests.harness.slack_emulator import SlackEmulator
from tests.test_socket_mode import SocketBot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "gh-webhook-secret-5c1e"
SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"


def test_webhooks_are_served_on_the_health_port(slack: SlackEmulator, tmp_path: Path) -> None:
    bot = SocketBot(slack, tmp_path, GITHUB_WEBHOOK_SECRET=SECRET)
    try:
        slack.wait_for_socket(timeout=20)
        ci = CiSender(f"http://127.0.0.1:{bot.health_port}", github_secret=SECRET, gitlab_token="-")
        payload = workflow_run("in_progress", head_sha=SHA, head_branch="main")
        signed = ci.github("workflow_run", payload)
        # Verified; no service of this bot's configuration builds acme/payments.
        assert (signed.status, signed.json["ignored"]) == (202, True)
        assert ci.github("workflow_run", payload, secret=None).status == 401
        assert ci.gitlab({"object_kind": "pipeline"}, token="guess").status == 401
        elsewhere = post(f"{ci.base_url}/webhooks/bitbucket", b"{}", {})
        assert elsewhere.status == 404
    finally:
        bot.stop()
    with sqlite3.connect(tmp_path / "bot.db") as db:
        rows = db.execute("SELECT action, outcome FROM audit ORDER BY id").fetchall()
    assert rows == [
        ("webhook:github", "refused"),
        ("webhook:github", "forged"),
        ("webhook:gitlab", "forged"),
    ]
