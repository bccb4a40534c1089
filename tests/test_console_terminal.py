"""The console and the CLI as terminal tools: names as shown, --user, friendly typos.

Each test runs the real `python -m bot` process against a real SQLite file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.wiring import build_deps, close_deps
from services.audit import search
from services.clock import SystemClock
from services.incidents import records
from services.settings import Settings
from tests.harness.cli import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CREATE = 'incident create --severity=sev1 --title="Payment Gateway Down"'
ROOM = "#inc-1-payment-gateway-down"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hotfix.yml"
    path.write_text("store:\n  path: state/hotfix.db\n")
    return path


def console(config: Path, *lines: str, user: str = "alice") -> str:
    result = run_cli(
        "--config",
        str(config),
        "console",
        "--user",
        user,
        cwd=config.parent,
        stdin="\n".join([*lines, "quit"]) + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def store_of(config: Path) -> Settings:
    return Settings.model_validate({"store": {"path": str(config.parent / "state/hotfix.db")}})


def test_after_a_restart_the_console_names_the_open_war_rooms_and_how_to_enter_one(
    config: Path,
) -> None:
    first = console(config, CREATE)
    assert f"(you are now in {ROOM}; commands act on its incident)" in first
    assert "console:#" not in first  # channels are named as shown, never as ids

    second = console(config, "join INC-1", 'incident update --message="Rolled back"')
    assert "Open war rooms:" in second
    assert f"  INC-1  {ROOM}  Payment Gateway Down" in second
    assert "Enter one with: join INC-1" in second
    assert f"You are now in {ROOM}; commands act on INC-1." in second
    # Entering shows the war room's header again, its buttons numbered to press.
    assert f"[{ROOM} · msg 1 of an earlier session] INC-1: Payment Gateway Down" in second
    assert "[1] Assign commander…  [2] Post update  [3] Resolve" in second
    assert "Update posted for INC-1." in second
    assert "console:#" not in second

    started_in = run_cli(
        "--config",
        str(config),
        "console",
        "--channel",
        ROOM,
        cwd=config.parent,
        stdin='incident update --message="From the start"\n',
    )
    assert f"You are now in {ROOM}; commands act on INC-1." in started_in.stdout
    assert "Update posted for INC-1." in started_in.stdout

    third = console(config, f"join {ROOM}", "leave", 'incident update --message="x"')
    assert f"You are now in {ROOM}" in third
    assert "You are back in the terminal" in third
    assert "This channel is not an incident's war room." in third


def test_one_off_cli_commands_run_as_another_person_with_user(config: Path) -> None:
    result = run_cli("--config", str(config), *CREATE_WORDS, "--user", "bob", cwd=config.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    before = run_cli(
        "--config",
        str(config),
        "--user",
        "carol",
        "note",
        "--incident",
        "INC-1",
        "hi",
        cwd=config.parent,
    )
    deps = build_deps(store_of(config), clock=SystemClock())
    try:
        incident = records.get(deps.store, "INC-1")
        assert (incident.commander, incident.declared_by) == ("console:bob", "console:bob")
        actors = {r["actor"] for r in search(deps.store)}
        assert {"console:bob", "console:carol"} <= actors, before.stdout
    finally:
        close_deps(deps)
    # audit has a --user of its own (a filter): it stays the filter.
    audit = run_cli("--config", str(config), "audit", "--user", "@bob", cwd=config.parent)
    assert audit.returncode == 0, audit.stdout
    assert "console:bob" in audit.stdout and "console:carol" not in audit.stdout
    bad = run_cli(
        "--config", str(config), "--user", "a b;rm", "incident", "list", cwd=config.parent
    )
    assert bad.returncode == 2
    assert "'a b;rm' is not a user name" in bad.stderr


CREATE_WORDS = ("incident", "create", "--severity=sev2", "--title=Checkout errors")


def test_a_cli_typo_gets_did_you_mean_and_the_commands(config: Path) -> None:
    result = run_cli("--config", str(config), "incidnet", "list", cwd=config.parent)
    assert result.returncode == 2
    # (run as `python -m bot` here; as `hotfix-bot` it names hotfix-bot)
    assert "bot incidnet is not a command. Did you mean python -m bot incident?" in result.stderr
    assert "Commands: backup, check-config, console," in result.stderr
    assert "No such command" not in result.stderr + result.stdout
    # A one-off command's buttons are shown without numbers: nothing is left to press them.
    flag = run_cli("--config", str(config), "audit", "--limt", "3", cwd=config.parent)
    assert flag.returncode == 2
    assert "[Help for /hotfix audit]" in flag.stdout and "[1]" not in flag.stdout
    assert "Traceback" not in result.stderr


def test_an_unknown_console_command_gets_did_you_mean_and_the_list(config: Path) -> None:
    out = console(config, "incidnet list", "incident lst", "frobnicate")
    assert "/hotfix incidnet is not a command. Did you mean /hotfix incident?" in out
    assert "Commands: approve, audit, cancel," in out
    assert "/hotfix incident lst is not a command. Did you mean /hotfix incident list?" in out
    assert "Commands: commander, comms, create, list," in out
    assert "/hotfix frobnicate is not a command. Commands: approve" in out
    assert "`" not in out and "*" not in out
