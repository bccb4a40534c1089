"""Fixtures shared by the whole suite: settings on a temp store, deps, a console."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.wiring import build_deps, build_router, close_deps
from handlers.context import CommandEnv, Deps, Invocation
from handlers.router import Router
from services.clock import ManualClock
from services.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate({"store": {"path": str(tmp_path / "hotfix.db")}})


@pytest.fixture
def deps(settings: Settings, clock: ManualClock) -> Iterator[Deps]:
    built = build_deps(settings, clock=clock)
    yield built
    close_deps(built)


@pytest.fixture
def router(settings: Settings) -> Router:
    return build_router(settings)


@pytest.fixture
def console_env(deps: Deps) -> CommandEnv:
    return CommandEnv(Invocation(actor="console:alice", source="console"), deps)
