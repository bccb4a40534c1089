"""Fixtures shared by the whole suite: settings on a temp store, deps, a console.

Markers: every test module says what it is with a module-level ``pytestmark``
(tests/test_layout.py checks that each has one):

* ``unit``: in-process only - no bot, no child process (git, scripts, Prometheus, the CLI);
  in-process HTTP emulators are fine. Checked while each unit test runs (below).
* ``e2e``: a bot end to end (a process, or in-process against the emulators or the console),
  or real child processes (git, deploy scripts, Prometheus, the CLI).
* ``slow``: the module takes more than about 2 seconds (summed from ``--durations=0``; measured
  on a shared 2-core machine under load, where the cut was 3 s).

``make test-quick`` runs ``-m "unit and not slow"``: the edit loop, under a minute.
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.wiring import build_deps, build_router, close_deps
from handlers.core.context import CommandEnv, Deps, Invocation
from handlers.core.router import Router
from services.clock import ManualClock
from services.settings import Settings
from tests.harness.running_bot import RunningBot, manifest_scopes, start_bot
from tests.harness.slack_emulator import SlackEmulator

REPO_ROOT = Path(__file__).resolve().parent.parent

# Shared fixtures that live next to the harness they set up.
pytest_plugins = [
    "tests.harness.git_repos",
    "tests.harness.k8s_fixtures",
    "tests.harness.deploy_target",
    "tests.harness.console_fixtures",
    "tests.harness.email_fixtures",
    "tests.harness.prometheus_server",
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """A test marked unit that starts a child process or a bot fails: mark its module e2e."""
    if item.get_closest_marker("unit") is None:
        return (yield)
    popen, bot = subprocess.Popen.__init__, RunningBot.__init__

    def refuse(what: str) -> object:
        def refused(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"a unit test started {what}: mark its module e2e, not unit")

        return refused

    subprocess.Popen.__init__ = refuse("a child process")  # type: ignore[method-assign]
    RunningBot.__init__ = refuse("a bot")  # type: ignore[method-assign]
    try:
        return (yield)
    finally:
        subprocess.Popen.__init__ = popen  # type: ignore[method-assign]
        RunningBot.__init__ = bot  # type: ignore[method-assign]


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


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    """The Slack emulator, granting exactly the scopes manifest.yml asks for."""
    emulator = SlackEmulator(scopes=manifest_scopes())
    emulator.add_user("U0ALICE", "alice", real_name="Alice Oncall")
    emulator.add_user("U0BOB", "bob", real_name="Bob Approver")
    emulator.add_channel(
        "general", channel_id="C0GENERAL", members=("U0ALICE", "U0BOB", "UBOT"), is_general=True
    )
    with emulator:
        yield emulator


@pytest.fixture
def bot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    """hotfix-bot in HTTP mode on a localhost port, talking to the emulator."""
    running = start_bot(slack=slack, store_path=tmp_path / "bot.db", clock=clock)
    yield running
    running.stop()
