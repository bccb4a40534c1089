"""The console prints what changed when a message is updated, not the whole card again."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.console import Console
from bot.wiring import build_deps, build_router, close_deps
from handlers.console_chat import ConsoleChat
from handlers.context import Deps
from services.chat import Message
from services.clock import ManualClock
from services.deploy import repository
from services.deploy.model import IN_FLIGHT
from services.settings import Settings
from tests.harness.deploy_target import DeployTarget


@pytest.fixture
def target(tmp_path: Path) -> Iterator[DeployTarget]:
    deployed = DeployTarget(tmp_path / "target")
    yield deployed
    deployed.stop()


@pytest.fixture
def printed() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def console_deps(
    tmp_path: Path, target: DeployTarget, clock: ManualClock, printed: io.StringIO
) -> Iterator[Deps]:
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "services": {
                "payments": {
                    "environments": {
                        "production": target.environment(approvals=0, verify_seconds=20)
                    }
                }
            },
        }
    )
    built = build_deps(
        settings,
        clock=clock,
        chat=lambda renderer, _store, _clock: ConsoleChat(renderer, out=printed),
    )
    yield built
    close_deps(built)


def finished(deps: Deps, deployment_id: str) -> None:
    deadline = time.monotonic() + 60
    while repository.get(deps.store, deployment_id).state in IN_FLIGHT:
        assert time.monotonic() < deadline, "the deployment did not finish"
        time.sleep(0.05)


def test_one_deployment_prints_its_card_once_then_only_changes(
    console_deps: Deps, printed: io.StringIO
) -> None:
    console = Console(console_deps, build_router(console_deps.settings), actor="console:alice")
    console.handle('incident create --severity=sev1 --title="Payments failing"')
    start = len(printed.getvalue().splitlines())
    said = console.handle("deploy --service=payments --target=production --version=v2.1.1")
    finished(console_deps, "DEP-1")
    lines = printed.getvalue().splitlines()[start:] + said.splitlines()
    # The card once, whole; every step after it as the lines it changed, under its reference.
    assert sum("DEP-1: payments v2.1.1 → production" in line for line in lines) == 2  # + reply
    updates = [
        line for line in lines if line.startswith("[#inc-1-payments-failing · msg 3 updated]")
    ]
    assert len(updates) >= 8
    assert "[#inc-1-payments-failing · msg 3 updated] State ✅ Succeeded" in lines
    # 181 lines before (the whole card for each of its 13 versions); now about 36.
    assert len(lines) <= 45, "\n".join(lines)


def test_an_update_that_changes_nothing_prints_nothing_and_a_removed_line_is_marked(
    deps: Deps,
) -> None:
    out = io.StringIO()
    chat = ConsoleChat(deps.renderer, out=out)
    posted = chat.post("console:#inc-9-x", Message("plain", {"text": "one\ntwo\nthree"}))
    before = out.getvalue()
    chat.update(posted.channel_id, posted.ts, Message("plain", {"text": "one\ntwo\nthree"}))
    assert out.getvalue() == before
    chat.update(posted.channel_id, posted.ts, Message("plain", {"text": "one\nthree"}))
    assert out.getvalue()[len(before) :] == "[#inc-9-x · msg 1 updated] (removed) two\n"


def test_changed_lines_lists_new_lines_and_marks_removed_ones() -> None:
    from handlers.console_chat import changed_lines

    assert changed_lines(["a", "b", "c"], ["a", "B", "c", "d"]) == ["B", "d"]
    assert changed_lines(["a", "b", "c"], ["a"]) == ["(removed) b", "(removed) c"]
    assert changed_lines(["a", "b", "c"], ["x"]) == ["x", "(removed) b", "(removed) c"]
