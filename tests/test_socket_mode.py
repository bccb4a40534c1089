"""Socket Mode, the production default: the real `hotfix-bot serve` process over a WebSocket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.bot_process import REPO
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Slack pings each connection itself, far less often than the emulator's default of
# 0.1 s: frequent pings would wake a reader blocked on a stale socket and hide stalls.
SLACK_LIKE_PING_INTERVAL = 30.0
ACK_WINDOW = 3.0  # Slack's: an envelope not acked within 3 s counts as failed


class SocketBot:
    """`hotfix-bot serve` in Socket Mode as a subprocess, its output in a log file."""

    def __init__(self, slack: SlackEmulator, tmp_path: Path, **env_overrides: str) -> None:
        config = tmp_path / "hotfix.yml"
        self.health_port = free_port()
        config.write_text(
            f"store:\n  path: {tmp_path / 'bot.db'}\nslack:\n  health_port: {self.health_port}\n"
            "incidents:\n  reminder_tick_seconds: 1\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
        env.update(
            SLACK_BOT_TOKEN=slack.bot_token,
            SLACK_APP_TOKEN=slack.app_token,
            SLACK_API_URL=slack.api_url,
        )
        env.update(env_overrides)
        self.log_path = tmp_path / "bot.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "serve"],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        assert wait_until(lambda: text in self.output, timeout=timeout), (
            f"{text!r} not in the bot's output:\n{self.output}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU time of the bot process so far (/proc/<pid>/stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.health_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def socket_bot(slack: SlackEmulator, tmp_path: Path) -> Iterator[SocketBot]:
    bot = SocketBot(slack, tmp_path)
    try:
        slack.wait_for_socket(timeout=20)
        yield bot
    finally:
        bot.stop()


@pytest.fixture
def slack_like_pings(slack: SlackEmulator) -> SlackEmulator:
    slack.socket_ping_interval = SLACK_LIKE_PING_INTERVAL
    return slack


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_health_endpoints_answer_in_socket_mode(
    slack: SlackEmulator, socket_bot: SocketBot
) -> None:
    base = f"http://127.0.0.1:{socket_bot.health_port}"
    with urllib.request.urlopen(base + "/readyz", timeout=10) as response:
        ready = json.loads(response.read())
    assert ready == {"status": "ready", "checks": {"store": "ok", "slack": "ok", "scheduler": "ok"}}
    assert "hotfix_commands_total" in socket_bot.metrics()


def test_serve_connects_with_the_app_token(slack: SlackEmulator, socket_bot: SocketBot) -> None:
    (call,) = slack.calls_to("apps.connections.open")
    assert call.token == slack.app_token
    assert slack.calls_to("auth.test")[0].token == slack.bot_token


def test_help_is_answered_in_the_socket_ack(slack: SlackEmulator, socket_bot: SocketBot) -> None:
    envelope_id, _ = slack.socket_slash("help")
    ack = slack.socket_ack(envelope_id, timeout=10)
    assert ack["payload"]["response_type"] == "ephemeral"
    texts = [b["text"]["text"] for b in ack["payload"]["blocks"] if b["type"] == "section"]
    assert any("/hotfix incident create" in t for t in texts)


def test_socket_mode_acks_are_measured(slack: SlackEmulator, socket_bot: SocketBot) -> None:
    for _ in range(3):
        envelope_id, _ = slack.socket_slash("help")
        slack.socket_ack(envelope_id, timeout=10)
    (count,) = [
        line
        for line in socket_bot.metrics().splitlines()
        if line.startswith("hotfix_ack_seconds_count")
    ]
    assert float(count.split()[-1]) == 3


def test_a_declaration_over_socket_mode_opens_the_war_room(
    slack: SlackEmulator, socket_bot: SocketBot
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


# -- reconnects: Slack refreshes connections routinely ---------------------------


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
def test_every_envelope_across_a_refresh_is_acked_within_slacks_window(
    slack_like_pings: SlackEmulator, socket_bot: SocketBot, reason: str
) -> None:
    slack = slack_like_pings
    (old,) = slack.socket_sessions()
    # As Slack does: say so on the old connection, close it some seconds later.
    assert slack.socket_disconnect(reason, close_after=5.0) == 1
    sent = []
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:  # before, during and after the switch
        sent.append(slack.socket_slash("help")[0])
        time.sleep(0.1)
    for envelope_id in sent:
        slack.socket_ack(envelope_id, timeout=10)
    delays = {e: slack.socket_ack_seconds(e) for e in sent}
    late = {e: d for e, d in delays.items() if d is None or d >= ACK_WINDOW}
    assert not late, f"acked after {ACK_WINDOW}s: {late}"
    sessions = slack.socket_sessions()
    assert len(sessions) == 2 and sessions[1]["live"]
    assert sessions[0]["id"] == old["id"]
    assert wait_until(lambda: slack.socket_sessions()[0]["closed"] is not None, timeout=15)


def test_a_silent_drop_is_noticed_within_seconds_without_spinning(
    slack_like_pings: SlackEmulator, socket_bot: SocketBot
) -> None:
    slack = slack_like_pings
    cpu_before, wall_before = socket_bot.cpu_seconds(), time.monotonic()
    assert slack.socket_drop_silently() == 1
    assert wait_until(lambda: slack.socket_sessions()[0]["closed"] is not None, timeout=60)
    cpu = socket_bot.cpu_seconds() - cpu_before
    wall = time.monotonic() - wall_before
    (dropped, *_) = slack.socket_sessions()
    noticed = dropped["closed"] - dropped["dropped"]
    assert noticed < 8.0, f"the bot noticed the dead connection after {noticed:.1f}s"
    # A client spinning on the dead socket burns a core for the whole window (even
    # beside a CPU hog it gets a large share); an idle one uses a few milliseconds.
    assert cpu < 0.15 * wall, f"{cpu:.2f}s of CPU in {wall:.1f}s"
    slack.wait_for_socket(timeout=15)
    envelope_id, _ = slack.socket_slash("help")
    assert slack.socket_ack(envelope_id, timeout=10)["payload"]["response_type"] == "ephemeral"


# -- start-up: name a refused token, wait out an unreachable Slack ----------------


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("SLACK_APP_TOKEN", "xapp-1-wrong", "invalid_auth"),
        ("SLACK_APP_TOKEN", "xoxb-test-token", "not_allowed_token_type"),
        ("SLACK_BOT_TOKEN", "xoxb-wrong<@U0ALICE>" + "x" * 10_000, "invalid_auth"),
    ],
)
def test_a_refused_token_is_named_in_one_line(
    slack: SlackEmulator, tmp_path: Path, variable: str, value: str, error: str
) -> None:
    bot = SocketBot(slack, tmp_path, **{variable: value})
    try:
        assert bot.process.wait(timeout=60) == 5
    finally:
        bot.stop()
    output = bot.output
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if "refused" in line]
    assert line.startswith(f"Slack refused {variable} ({error}): set it to ")
    assert value not in output and "xoxb-test-token" not in output
    assert slack.socket_connections() == 0


def test_a_token_that_cannot_be_sent_is_named(slack: SlackEmulator, tmp_path: Path) -> None:
    bot = SocketBot(slack, tmp_path, SLACK_APP_TOKEN="xapp-1-\u202e\nwrong")
    try:
        assert bot.process.wait(timeout=60) == 5
    finally:
        bot.stop()
    assert "Traceback" not in bot.output
    assert "SLACK_APP_TOKEN is not a Slack token" in bot.output
    assert not slack.calls_to("apps.connections.open")


def test_slack_unavailable_at_start_up_is_waited_out(slack: SlackEmulator, tmp_path: Path) -> None:
    slack.outage(503)
    bot = SocketBot(slack, tmp_path)
    try:
        bot.wait_for_output("Slack unreachable (HTTP 503), retrying in 1s", timeout=60)
        bot.wait_for_output("retrying in 2s", timeout=60)
        assert bot.process.poll() is None
        slack.end_outage()
        slack.wait_for_socket(timeout=60)
        envelope_id, _ = slack.socket_slash("help")
        assert slack.socket_ack(envelope_id, timeout=10)["payload"]["response_type"] == "ephemeral"
    finally:
        bot.stop()
    assert "did not accept" not in bot.output and "Slack refused" not in bot.output


def test_slack_unavailable_for_the_socket_connection_is_waited_out(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    # auth.test answers, then apps.connections.open meets the outage.
    slack.call_hook = lambda method, when: (
        slack.outage(503) if (method, when) == ("auth.test", "after") else None
    )
    bot = SocketBot(slack, tmp_path)
    try:
        bot.wait_for_output("Slack unreachable (HTTP 503), retrying in 1s (apps.connections.open)")
        slack.call_hook = None
        slack.end_outage()
        slack.wait_for_socket(timeout=60)
    finally:
        bot.stop()
    assert "SLACK_APP_TOKEN" not in bot.output


def test_slack_refusing_connections_at_start_up_is_waited_out(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    bot = SocketBot(slack, tmp_path, SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")
    try:
        bot.wait_for_output("Slack unreachable (connection refused), retrying in 1s")
        assert bot.process.poll() is None
    finally:
        bot.stop()
    assert "did not accept" not in bot.output and "Slack refused" not in bot.output


# -- a declaration during a Slack outage -------------------------------------------


def test_a_declaration_during_an_outage_is_answered_at_once(
    slack: SlackEmulator, socket_bot: SocketBot
) -> None:
    slack.outage(503, html=True)
    started = time.monotonic()
    envelope_id, response_id = slack.socket_slash(
        'incident create --severity=sev2 --title="Checkout <b>down</b> \u202e"'
    )
    slack.socket_ack(envelope_id, timeout=10)
    (reply,) = slack.wait_for_response(response_id, timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"answered after {elapsed:.1f}s"
    text = reply["text"]
    assert text.startswith("INC-1 declared and recorded; war room pending: Slack is unavailable")
    assert "the bot will retry" in text
    assert "&lt;" not in text and "<html" not in text.lower()
    assert "http_503" in text
    slack.end_outage()  # the scheduler's tick opens the war room without anyone asking
    assert slack.wait_for(lambda: slack.channel_by_name("inc-1-checkout-b-down-b") is not None, 30)
