"""`timeline` (and postmortem, note) take `--incident INC-n`, as the war-room hint says.

Outside a war room the answer used to be "name the incident with --incident INC-n",
and then `--incident` was refused as an unknown option.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.console import Console
from handlers.core.context import Deps
from handlers.core.router import Router
from services import timeline
from services.clock import ManualClock
from services.incidents import records
from tests.harness.bot_actions import command, war_room
from tests.harness.cli import run_cli
from tests.harness.slack_emulator import SlackEmulator

from .test_incidents_e2e import CREATE_SEV1, shown, start_incident_bot

pytestmark = pytest.mark.e2e

TITLE = "Checkout Down"


@pytest.fixture
def console(deps: Deps, router: Router) -> Console:
    shell = Console(deps, router, actor="console:alice")
    out = shell.handle(f'incident create --severity=sev1 --title="{TITLE}"')
    assert "INC-1" in out, out
    shell.channel_id = "console:terminal"  # back outside the war room
    return shell


def test_the_hint_outside_a_war_room_names_a_flag_that_works(console: Console) -> None:
    hint = console.handle("timeline")
    assert "--incident INC-n" in hint
    out = console.handle("timeline --incident INC-1")
    assert f"Timeline INC-1: {TITLE}" in out, out
    assert out == console.handle("timeline --incident=inc-1")
    assert out == console.handle("timeline INC-1")  # the positional form stays


def test_two_different_incidents_are_refused_clearly(console: Console) -> None:
    out = console.handle("timeline INC-1 --incident INC-2")
    assert "INC-1" in out and "INC-2" in out and "one incident" in out
    out = console.handle("timeline --incident " + "\u202e<!channel>" + "9" * 10_000)
    assert "is not an incident id" in out
    assert "Traceback" not in out


def test_note_and_postmortem_take_the_flag_too(console: Console, deps: Deps) -> None:
    out = console.handle("note --incident INC-1 Cache flushed; errors falling")
    assert "Noted" in out, out
    out = console.handle("note --incident=INC-1 second note")
    assert "Noted" in out, out
    texts = [e.text for e in timeline.events(deps.store, incident_id="INC-1")]
    assert "Cache flushed; errors falling" in texts and "second note" in texts
    assert not any("--incident" in t for t in texts)
    out = console.handle("postmortem --incident INC-1")
    assert "INC-1" in out and "No such option" not in out


def test_the_terminal_cli_takes_the_flag(tmp_path: Path) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text("store:\n  path: bot.db\n")
    created = run_cli(
        "--config",
        str(config),
        "incident",
        "create",
        "--severity=sev2",
        f"--title={TITLE}",
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    result = run_cli("--config", str(config), "timeline", "--incident", "INC-1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert f"Timeline INC-1: {TITLE}" in result.stdout
    result = run_cli("--config", str(config), "postmortem", "--incident=INC-1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "INC-1" in result.stdout


def test_slack_takes_the_flag_outside_the_war_room(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start_incident_bot(slack, tmp_path, clock)
    try:
        war_room(bot, CREATE_SEV1)
        assert records.get(bot.deps.store, "INC-1").channel_id
        reply = command(bot, "timeline --incident INC-1")  # from #general
        assert "Timeline INC-1" in shown(reply), reply
    finally:
        bot.stop()
