"""Socket Mode, the production default: the real `hotfix-bot serve` process over a WebSocket."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.bot_process import REPO
from tests.harness.slack_emulator import SlackEmulator


@pytest.fixture
def socket_bot(slack: SlackEmulator, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    config = tmp_path / "hotfix.yml"
    health_port = free_port()
    config.write_text(
        f"store:\n  path: {tmp_path / 'bot.db'}\nslack:\n  health_port: {health_port}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
    env.update(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_APP_TOKEN=slack.app_token,
        SLACK_API_URL=slack.api_url,
    )
    log = (tmp_path / "bot.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "serve"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        slack.wait_for_socket(timeout=20)
        process.health_port = health_port  # type: ignore[attr-defined]
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_health_endpoints_answer_in_socket_mode(
    slack: SlackEmulator, socket_bot: subprocess.Popen[str]
) -> None:
    import json
    import urllib.request

    base = f"http://127.0.0.1:{socket_bot.health_port}"  # type: ignore[attr-defined]
    with urllib.request.urlopen(base + "/readyz", timeout=10) as response:
        ready = json.loads(response.read())
    assert ready == {"status": "ready", "checks": {"store": "ok", "slack": "ok", "scheduler": "ok"}}
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        assert b"hotfix_commands_total" in response.read()


def test_serve_connects_with_the_app_token(
    slack: SlackEmulator, socket_bot: subprocess.Popen[str]
) -> None:
    (call,) = slack.calls_to("apps.connections.open")
    assert call.token == slack.app_token
    assert slack.calls_to("auth.test")[0].token == slack.bot_token


def test_help_is_answered_in_the_socket_ack(
    slack: SlackEmulator, socket_bot: subprocess.Popen[str]
) -> None:
    envelope_id, _ = slack.socket_slash("help")
    ack = slack.socket_ack(envelope_id, timeout=10)
    assert ack["payload"]["response_type"] == "ephemeral"
    texts = [b["text"]["text"] for b in ack["payload"]["blocks"] if b["type"] == "section"]
    assert any("/hotfix incident create" in t for t in texts)


def test_a_declaration_over_socket_mode_opens_the_war_room(
    slack: SlackEmulator, socket_bot: subprocess.Popen[str]
) -> None:
    envelope_id, response_id = slack.socket_slash(
        'incident create --severity=sev2 --title="Checkout slow"'
    )
    ack = slack.socket_ack(envelope_id, timeout=10)
    assert ack["payload"]["text"] == "Working on `/hotfix incident create`…"
    (reply,) = slack.wait_for_response(response_id, timeout=15)
    assert "INC-1 declared." in reply["text"]
    channel = slack.channel_by_name("inc-1-checkout-slow")
    assert channel is not None
    assert "U0ALICE" in slack.members(channel["id"])
