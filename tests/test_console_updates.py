"""The console prints what changed when a message is updated, not the whole card again."""

from __future__ import annotations

import io

import pytest

from handlers.console.chat import ConsoleChat
from handlers.core.context import Deps
from services.chat import Message
from services.clock import ManualClock
from services.deploy.model import State
from tests.harness.k8s_emulator import K8sEmulator

from .test_canary_kubernetes import cluster, kclock, ticks  # noqa: F401 (fixtures)
from .test_canary_kubernetes import target as canary_target
from .test_console_buttons import console, settled

pytestmark = pytest.mark.e2e


@pytest.fixture
def production() -> dict[str, object]:
    return {"approvals": 0, "verify_seconds": 20}


def test_one_deployment_prints_its_card_once_then_only_changes(
    cdeps: Deps, printed: io.StringIO
) -> None:
    alice = console(cdeps)
    alice.handle('incident create --severity=sev1 --title="Payments failing"')
    start = len(printed.getvalue().splitlines())
    said = alice.handle("deploy --service=payments --target=production --version=v2.1.1")
    assert settled(cdeps, "DEP-1") is State.SUCCEEDED
    lines = printed.getvalue().splitlines()[start:] + said.splitlines()
    # The card once, whole; every step after it as the lines it changed, under its reference.
    assert sum("DEP-1: payments v2.1.1 → production" in line for line in lines) == 2  # + reply
    updates = [
        line for line in lines if line.startswith("[#inc-1-payments-failing · msg 3 updated]")
    ]
    assert len(updates) >= 8
    # The last update changes several lines (state, Running now, the finished steps).
    assert "  State ✅ Succeeded" in lines
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
    from handlers.console.chat import changed_lines

    assert changed_lines(["a", "b", "c"], ["a", "B", "c", "d"]) == ["B", "d"]
    assert changed_lines(["a", "b", "c"], ["a"]) == ["(removed) b", "(removed) c"]
    assert changed_lines(["a", "b", "c"], ["x"]) == ["x", "(removed) b", "(removed) c"]


def test_channels_and_people_are_named_as_shown() -> None:
    from handlers.console.chat import channel_label

    assert channel_label("console:#inc-4-payment-gateway-down") == "#inc-4-payment-gateway-down"
    assert channel_label("console:@console:bob") == "DM @bob"
    assert channel_label("console:terminal") == "terminal"


class TestCanary:
    """A five-stage Kubernetes canary in the canary tests' emulated cluster."""

    @pytest.fixture
    def environment(self, request: pytest.FixtureRequest) -> dict[str, object]:
        k8s: K8sEmulator = request.getfixturevalue("cluster")
        return {
            "backend": "kubernetes",
            "strategy": "canary",
            "approvals": 0,
            "verify_seconds": 0,
            "kubernetes": canary_target(k8s, analysis=False).model_dump(),
        }

    @pytest.fixture
    def clock(self, request: pytest.FixtureRequest) -> ManualClock:
        clock: ManualClock = request.getfixturevalue("kclock")  # its sleeps tick the cluster
        return clock

    def test_one_canary_prints_its_card_once_then_only_changes(
        self, cdeps: Deps, printed: io.StringIO
    ) -> None:
        """Start to finish: 409 lines before, about 75 now."""
        console(cdeps).handle("deploy --service=payments --target=production --version=v2.1.1")
        assert settled(cdeps, "DEP-1") is State.SUCCEEDED
        lines = printed.getvalue().splitlines()
        assert sum(line.startswith("[terminal · msg 1]") for line in lines) == 1
        assert "  State ✅ Succeeded" in lines
        assert any(line.startswith("Canary 50% → v2.1.1") for line in lines)
        assert len(lines) <= 100, "\n".join(lines)
