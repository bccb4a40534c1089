"""What a validation record says it tested: the version the target ran when it started, a
plain warning when that is not the version asked, a failure when nothing of that version
was tested; and a card posted while Slack was away still edited afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.scheduler import ReminderScheduler
from services import outbox, timeline
from services.clock import ManualClock
from services.pipeline import records, validate_card
from services.pipeline.records import RunKind, RunState
from tests.harness.bot_actions import command
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator
from tests.test_validate_command import TYPED, Scripts, card_of, service_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# A suite that never takes {version}: it can only test what runs.
WHAT_RUNS = TYPED.replace("critical-path", "what-runs")


@pytest.fixture
def scripts(tmp_path: Path) -> Scripts:
    return Scripts(tmp_path / "checks")


@pytest.fixture
def vbot(
    slack: SlackEmulator, target: DeployTarget, scripts: Scripts, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    payments = service_settings(target, scripts)
    payments["environments"]["staging"]["suites"]["what-runs"] = [
        scripts.check("checkout", "{service}")
    ]
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "services": {"payments": payments},
            "access": {"deployers": ["U0ALICE"]},
        },
    )
    yield running
    running.stop()


def passed_for(bot: RunningBot, version: str) -> records.PipelineRun | None:
    return records.latest_passed(
        bot.deps.store,
        kind=RunKind.VALIDATE,
        service="payments",
        environment="staging",
        version=version,
    )


def test_validating_a_candidate_before_deploying_it_says_what_the_target_ran(
    vbot: RunningBot, target: DeployTarget, scripts: Scripts
) -> None:
    assert target.live == "v2.1.0"
    command(vbot, TYPED)  # the suite's smoke check is given {version}: it checks v2.1.1
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.state is RunState.PASSED and run.version == "v2.1.1"
    assert run.detail["running_version"] == "v2.1.0"
    warning = "the suite ran against v2.1.0 while v2.1.1 was asked"
    assert warning in run.detail["summary"]
    card = card_of(vbot)
    assert "*Version*\nv2.1.1\nstaging runs v2.1.0" in card
    assert f":warning: {warning}: its checks were given {{version}}=v2.1.1" in card
    (passed,) = [
        e for e in timeline.events(vbot.deps.store, incident_id=None) if e.kind == "validate_passed"
    ]
    assert warning in passed.text
    assert ["smoke", "v2.1.1", "staging"] in scripts.calls()


def test_a_suite_that_never_takes_the_version_fails_when_another_version_runs(
    vbot: RunningBot, target: DeployTarget
) -> None:
    command(vbot, WHAT_RUNS)
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.state is RunState.FAILED
    assert run.detail["running_version"] == "v2.1.0"
    card = card_of(vbot)
    assert ":x: configuration _(built-in)_" in card
    assert (
        "the suite ran against v2.1.0 while v2.1.1 was asked, and none of its checks takes"
        " {version}: nothing tested v2.1.1. Deploy v2.1.1 to staging first, then validate"
        " again." in card
    )
    assert passed_for(vbot, "v2.1.1") is None  # the promotion gate is not fooled


def test_validating_after_the_deploy_tests_what_runs_without_a_warning(
    vbot: RunningBot, target: DeployTarget
) -> None:
    command(vbot, "deploy --target=staging --service=payments --version=v2.1.1")
    assert target.live == "v2.1.1"
    command(vbot, WHAT_RUNS)
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.state is RunState.PASSED
    assert run.detail["running_version"] == "v2.1.1" and run.detail["version_warning"] is None
    assert run.detail["summary"] == "all 3 checks passed"
    card = card_of(vbot)
    assert "staging runs v2.1.1" in card and ":warning:" not in card
    assert passed_for(vbot, "v2.1.1") == run


def test_a_card_posted_while_slack_was_away_is_edited_once_slack_is_back(
    vbot: RunningBot,
) -> None:
    vbot.slack.outage(503)  # the card is queued with a placeholder ts, its edits too
    vbot.driver.slash(TYPED, channel_id="C0GENERAL")
    vbot.settle()
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.state is RunState.PASSED and outbox.is_pending(run.card_ts)

    vbot.slack.end_outage()
    ReminderScheduler(vbot.deps).run_tick()  # the outbox is delivered, in order
    assert outbox.depth(vbot.deps.store) == 0
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.card_ts and not outbox.is_pending(run.card_ts)  # the real ts, stored
    assert ":white_check_mark: Passed" in card_of(vbot)
    # A later edit reaches that message (not the placeholder, which Slack refuses).
    assert validate_card.post_or_update(vbot.deps.store, run, chat=vbot.deps.chat) is None
    assert outbox.depth(vbot.deps.store) == 0
    edits = [c.args for c in vbot.slack.calls_to("chat.update")]
    assert edits[-1]["ts"] == run.card_ts and edits[-1]["channel"] == "C0GENERAL"
