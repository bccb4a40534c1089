"""Fixtures for console tests: the bot's parts with the console chat printing into a buffer.

A real store, real deploy scripts (tests/harness/deploy_target.py) for `payments`
in production; a test module overrides `production` to change how it deploys.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.wiring import build_deps, close_deps
from handlers.console.chat import ConsoleChat
from handlers.core.context import Deps
from services.clock import ManualClock
from services.settings import Settings
from tests.harness.deploy_target import DeployTarget


@pytest.fixture(name="target")
def console_target(tmp_path: Path) -> Iterator[DeployTarget]:
    deployed = DeployTarget(tmp_path / "target")
    yield deployed
    deployed.stop()


@pytest.fixture
def printed() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def production() -> dict[str, object]:
    """How production deploys (overrides of DeployTarget.environment)."""
    return {"approvals": 1, "verify_seconds": 0}


@pytest.fixture
def environment(target: DeployTarget, production: dict[str, object]) -> dict[str, object]:
    """payments' production environment (a test class may override it: a canary)."""
    return target.environment(**production)


@pytest.fixture
def cdeps(
    tmp_path: Path,
    environment: dict[str, object],
    clock: ManualClock,
    printed: io.StringIO,
) -> Iterator[Deps]:
    """The bot's parts with the console chat printing into `printed`."""
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "services": {"payments": {"environments": {"production": environment}}},
        }
    )
    built = build_deps(
        settings,
        clock=clock,
        chat=lambda renderer, _store, _clock: ConsoleChat(renderer, out=printed),
    )
    yield built
    close_deps(built)
