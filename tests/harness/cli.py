"""hotfix-bot's command line as a real subprocess (``python -m bot …``), the way a person
types it: no Slack tokens or HOTFIX_ settings inherited from the test run's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI_SECONDS = 90  # a command that follows a deployment to its end included


def terminal_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
    env.update(extra or {})
    return env


def cli(config: Path, *words: str) -> list[str]:
    """The argv of ``hotfix-bot --config CONFIG WORDS…``."""
    return [sys.executable, "-m", "bot", "--config", str(config), *words]


def run_cli(
    *args: str, cwd: Path, stdin: str = "", extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``hotfix-bot ARGS…`` in ``cwd``, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=terminal_env(extra_env),
        timeout=CLI_SECONDS,
        check=False,
    )


def run(config: Path, *words: str) -> subprocess.CompletedProcess[str]:
    """``hotfix-bot --config CONFIG WORDS…`` next to its config, to its end."""
    return run_cli("--config", str(config), *words, cwd=config.parent)
