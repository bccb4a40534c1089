"""Console mode: the same commands and buttons in a terminal, as a real subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.console import Console
from handlers.core.context import Deps
from handlers.core.router import Router
from services.audit import search
from tests.harness.cli import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_console_process_answers_help_and_presses_buttons(tmp_path: Path) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text("store:\n  path: state/hotfix.db\n")
    result = run_cli(
        "--config",
        str(config),
        "console",
        "--user",
        "alice",
        cwd=tmp_path,
        stdin="help\naudit --limt 3\n1\nquit\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "You are console:alice" in out
    # Help for a terminal: no Slack markup (*bold*, `code`, <link|…>).
    assert "\n/hotfix audit  Show recent commands" in out
    assert "*" not in out and "`" not in out and "<http" not in out
    assert "No such option '--limt'. Did you mean '--limit'?" in out
    assert "[1] Help for /hotfix audit" in out
    # Pressing 1 shows the detailed help of the command that failed.
    assert out.count("Usage: /hotfix audit [OPTIONS]") >= 2
    assert (tmp_path / "state" / "hotfix.db").exists()
    assert "Traceback" not in result.stderr


def test_serve_without_tokens_falls_back_to_console(tmp_path: Path) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text("store:\n  path: bot.db\n")
    result = run_cli("--config", str(config), "serve", cwd=tmp_path, stdin="help\n")
    assert result.returncode == 0, result.stderr
    assert "starting the console mode" in result.stderr
    assert "hotfix-bot commands" in result.stdout


def test_terminal_cli_runs_chat_commands(tmp_path: Path) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text("store:\n  path: bot.db\n")
    ok = run_cli("--config", str(config), "help", "audit", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "Usage: /hotfix audit [OPTIONS]" in ok.stdout
    bad = run_cli("--config", str(config), "audit", "--limit", "500", cwd=tmp_path)
    assert bad.returncode == 2
    assert "Invalid value for '--limit': 500 is not in the range 1<=x<=45" in bad.stdout
    listing = run_cli("--config", str(config), "--help", cwd=tmp_path)
    for name in ("serve", "console", "check-config", "migrate", "audit", "help"):
        assert name in listing.stdout


def test_unknown_choice_number_is_explained(deps: Deps, router: Router) -> None:
    console = Console(deps, router, actor="console:bob")
    console.handle("audit --bad")
    assert console.handle("7") == (
        "There is no choice 7 (its message changed, or it never existed); pick one of 1 to 1."
    )
    console.handle("1")
    clicks = [r for r in search(deps.store) if r["action"] == "click:hotfix_help"]
    assert clicks and clicks[0]["actor"] == "console:bob"
