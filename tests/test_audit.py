"""/hotfix audit: console users by name, and long audits page with --before."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.console import Console
from handlers.core.context import Deps
from handlers.core.router import Router
from services.audit import AuditEntry, Outcome, record
from services.clock import ManualClock
from tests.harness.bot_actions import command
from tests.harness.cli import run_cli
from tests.harness.running_bot import RunningBot

from .test_incidents_e2e import shown

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOSTILE = "\u202e<!channel>\n" + "x" * 10_000


def add(deps: Deps, clock: ManualClock, actor: str, action: str, count: int = 1) -> None:
    for n in range(count):
        clock.advance(timedelta(seconds=1))
        record(
            deps.store,
            clock=clock,
            entry=AuditEntry(
                actor=actor, source="console", action=f"{action}{n}", outcome=Outcome.OK
            ),
        )


def test_audit_user_accepts_console_users_by_name(
    deps: Deps, router: Router, clock: ManualClock
) -> None:
    add(deps, clock, "console:alice", "alice-did-")
    add(deps, clock, "console:bob", "bob-did-")
    add(deps, clock, "U0ALICE", "slack-alice-did-")
    console = Console(deps, router, actor="console:carol")
    for typed in ("alice", "@alice", "console:alice"):
        out = console.handle(f"audit --user {typed}")
        assert "alice-did-0" in out, out
        assert "bob-did-0" not in out and "slack-alice-did-0" not in out
    out = console.handle("audit --user U0ALICE")
    assert "slack-alice-did-0" in out and "alice-did-0" not in out.replace("slack-alice", "")


def test_audit_user_refuses_what_is_no_user_with_a_hint(deps: Deps, router: Router) -> None:
    console = Console(deps, router, actor="console:carol")
    out = console.handle(f"audit --user '{HOSTILE}'")
    assert "is not a user" in out
    assert "console:NAME" in out or "console user" in out
    assert "Traceback" not in out


def test_a_long_audit_pages_with_before(deps: Deps, router: Router, clock: ManualClock) -> None:
    add(deps, clock, "console:alice", "step-", count=100)
    console = Console(deps, router, actor="console:alice")
    first = console.handle("audit --user alice --limit 45")
    assert "step-99" in first and "step-55" in first and "step-54" not in first
    # The console prints no Slack markup: the command runs to the end of the line.
    hint = re.search(r"older entries: run (audit .*--before \d+)$", first, re.I | re.M)
    assert hint, first
    second = console.handle(hint.group(1))
    assert "step-54" in second and "step-10" in second and "step-9 " not in second
    third = console.handle(
        re.search(r"run (audit .*--before \d+)$", second, re.M).group(1)  # type: ignore[union-attr]
    )
    assert "step-9" in third and "step-0" in third
    assert "older entries" not in third.lower()


def test_before_takes_a_time_in_the_team_zone(
    deps: Deps, router: Router, clock: ManualClock
) -> None:
    # The fixture clock starts at 2026-03-14 09:26:53 UTC; one entry per second.
    add(deps, clock, "console:alice", "step-", count=20)
    console = Console(deps, router, actor="console:alice")
    out = console.handle('audit --before "2026-03-14 09:27:04"')
    assert "step-9" in out and "step-10" not in out
    bad = console.handle("audit --before yesterday-ish")
    assert "neither an entry number" in bad


def test_audit_pages_in_the_terminal_cli(tmp_path: Path) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text("store:\n  path: bot.db\n")
    for _ in range(3):
        assert run_cli("--config", str(config), "help", cwd=tmp_path).returncode == 0
    out = run_cli("--config", str(config), "audit", "--limit", "2", cwd=tmp_path).stdout
    hint = re.search(r"hotfix-bot (audit .*--before \d+)$", out, re.M)
    assert hint, out
    rest = run_cli("--config", str(config), *hint.group(1).split(), cwd=tmp_path)
    assert rest.returncode == 0, rest.stdout
    before = int(hint.group(1).rsplit(" ", 1)[1])
    shown_ids = [int(n) for n in re.findall(r" #(\d+) ", rest.stdout)]
    assert shown_ids and all(n < before for n in shown_ids), rest.stdout


def test_audit_in_slack_pages_with_the_slash_command(bot: RunningBot, clock: ManualClock) -> None:
    add(bot.deps, clock, "console:alice", "step-", count=50)
    reply = command(bot, "audit --user console:alice")
    text = shown(reply)
    assert "step-49" in text
    assert re.search(r"/hotfix audit --user console:alice --before \d+", text), text
