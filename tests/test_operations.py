"""Running the bot: one instance per database, online backups."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.harness.bot_process import BotProcess
from tests.harness.cli import run_cli
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_second_bot_on_the_same_database_exits_with_a_clear_message(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text(f"store:\n  path: {tmp_path / 'bot.db'}\n")
    first = BotProcess(config=config, slack=slack, clock_file=None, log=tmp_path / "bot.log")
    try:
        import os
        import subprocess
        import sys

        from tests.harness.bot_process import REPO
        from tests.harness.running_bot import SIGNING_SECRET

        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
        env.update(
            SLACK_BOT_TOKEN=slack.bot_token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
        )
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "--config",
                str(config),
                "serve",
                "--http",
                "--port",
                "0",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 3
        assert "Another hotfix-bot (pid " in second.stderr
        assert "Run one bot per database" in second.stderr
        assert first.process.poll() is None  # the first one keeps running
    finally:
        first.kill()
    # The lock dies with the process, even on SIGKILL: a replacement starts.
    replacement = BotProcess(config=config, slack=slack, clock_file=None, log=tmp_path / "bot.log")
    replacement.stop()


def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text(f"store:\n  path: {tmp_path / 'bot.db'}\n")
    declared = run_cli(
        "--config",
        str(config),
        "incident",
        "create",
        "--severity=sev2",
        "--title=Disk full",
        cwd=tmp_path,
    )
    assert declared.returncode == 0, declared.stdout + declared.stderr
    result = run_cli("--config", str(config), "backup", str(tmp_path / "copy.db"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT id, title FROM incidents").fetchall() == [("INC-1", "Disk full")]
    assert copy.execute("SELECT kind FROM timeline ORDER BY id LIMIT 1").fetchall() == [
        ("declared",)
    ]
    copy.close()
    again = run_cli("--config", str(config), "backup", str(tmp_path / "copy.db"), cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr


def test_readiness_and_metrics_in_http_mode(bot: RunningBot) -> None:
    import json
    import re
    import urllib.error
    import urllib.request

    base = bot.url.removesuffix("/slack/events")
    assert bot.driver.slash("help").status == 200
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    # The registry is per process: other tests' commands may have been counted too.
    assert re.search(r'hotfix_commands_total\{action="command:help",outcome="ok"\} [1-9]', metrics)
    assert "hotfix_ack_seconds_count" in metrics
    bot.slack.outage(503)
    try:
        urllib.request.urlopen(base + "/readyz", timeout=30)
        raise AssertionError("readyz answered 200 while Slack was down")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503
        body = json.loads(exc.read())
    assert body["status"] == "not ready"
    assert body["checks"]["store"] == "ok" and body["checks"]["slack"] != "ok"


def test_json_logs_carry_the_ids_of_the_flow() -> None:
    import json
    import logging

    from bot.logs import JsonFormatter
    from services.logcontext import bound

    formatter = JsonFormatter()
    with bound(deployment_id="DEP-3", incident_id="INC-7"):
        inside = logging.LogRecord(
            "services.deploy.engine", logging.INFO, __file__, 1, "rolled %s", ("out",), None
        )
        line = json.loads(formatter.format(inside))
    outside = json.loads(
        formatter.format(logging.LogRecord("x", logging.WARNING, __file__, 1, "plain", (), None))
    )
    assert (
        line["message"] == "rolled out"
        and line["level"] == "info"
        and line["logger"] == "services.deploy.engine"
    )
    assert (line["deployment_id"], line["incident_id"]) == ("DEP-3", "INC-7")
    assert "deployment_id" not in outside and outside["level"] == "warning"


def test_a_console_next_to_a_serving_bot_leaves_the_reminders_to_the_bot(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta

    from services.clock import isoformat
    from tests.harness.bot_process import REPO
    from tests.harness.waiting import wait_until
    from tests.test_reminders import reminders_in

    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    clock_file = tmp_path / "clock"
    start = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    clock_file.write_text(isoformat(start))
    config = tmp_path / "hotfix.yml"
    config.write_text(
        f"store:\n  path: {tmp_path / 'bot.db'}\n"
        "incidents:\n  announcement_channel: C0INCIDENTS\n  reminder_tick_seconds: 0.05\n"
    )
    bot = BotProcess(config=config, slack=slack, clock_file=clock_file, log=tmp_path / "bot.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
    env["HOTFIX_CLOCK_FILE"] = str(clock_file)
    console = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "console", "--user", "oncall"],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        declared = bot.driver.slash('incident create --severity=sev1 --title="Payments down"')
        slack.wait_for_response(declared.response_id or "", timeout=15)
        room = slack.channel_by_name("inc-1-payments-down")["id"]
        clock_file.write_text(isoformat(start + timedelta(minutes=16)))  # a reminder is due
        assert wait_until(lambda: len(reminders_in(slack, room)) == 1, timeout=15)
        out, err = console.communicate("quit\n", timeout=30)
    finally:
        if console.poll() is None:
            console.kill()
        bot.stop()
    assert "A hotfix-bot serves this database" in err
    assert "status update" not in out.lower()  # the console did not take the reminder
    assert len(reminders_in(slack, room)) == 1
