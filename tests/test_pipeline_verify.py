"""/hotfix verify as the runbook types it: `--endpoints=critical --duration=5m --auto-rollback`.

Real scripts deploy and roll back (tests/harness/deploy_target.py), its health endpoint is a
real HTTP server that fails for the versions a test marks bad, Slack is the emulator, metric
rules query a Prometheus stand-in over HTTP, and the clock is a fake one the verification's
sleeps move (five minutes take no time).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.console import Console
from bot.wiring import build_router
from handlers.core.context import Deps
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from services.pipeline import records
from services.pipeline.records import RunKind, RunState
from tests.harness.bot_actions import command, events, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator
from tests.test_analysis_units import PrometheusStandIn, vector
from tests.test_analysis_units import Reply as PromReply

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNBOOK = "verify --endpoints=critical --duration=5m --auto-rollback"
PROD = "--target=production --service=payments"
ERROR_RATE = (
    'sum(rate(http_requests_total{service="{service}",version="{version}",code=~"5.."}[1m]))'
)


@pytest.fixture
def prom() -> Iterator[PrometheusStandIn]:
    stand_in = PrometheusStandIn()
    stand_in.respond = lambda query: PromReply(body=vector(({}, "0.001")))
    yield stand_in
    stand_in.stop()


def start(
    slack: SlackEmulator,
    target: DeployTarget,
    path: Path,
    clock: ManualClock,
    prom: PrometheusStandIn | None = None,
    **production: Any,
) -> RunningBot:
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    environment: dict[str, Any] = {
        "approvals": 0,
        "health_checks": [],  # the deploys pass; the verification decides
        "endpoints": {
            "critical": [{"url": target.health_url, "body_contains": '"ok"'}],
            "extra": [{"url": target.health_url}],
        },
        **production,
    }
    if prom is not None:
        environment["analysis"] = {
            "prometheus_url": prom.url,
            "queries": [
                {
                    "name": "HighErrorRate",
                    "query": ERROR_RATE,
                    "fail_when": ">",
                    "threshold": 0.05,
                }
            ],
            "failure_limit": 0,
        }
    return start_bot(
        slack=slack,
        store_path=path,
        clock=clock,
        extra_settings={
            "services": {
                "payments": {
                    "environments": {"production": target.rollback_environment(**environment)}
                }
            },
            "access": {"deployers": ["U0ALICE"]},
            "incidents": {"announcement_channel": "C0INCIDENTS"},
        },
    )


@pytest.fixture
def vbot(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    running = start(slack, target, tmp_path / "bot.db", clock)
    yield running
    running.stop()


def deployed(bot: RunningBot, room: str, version: str) -> str:
    reply = command(bot, f"deploy {PROD} --version={version}", channel_id=room)
    deployment_id = reply["text"].split()[0]
    assert deployments.get(bot.deps.store, deployment_id).state is State.SUCCEEDED, reply
    return deployment_id


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [e.get("text", "") for e in block.get("elements", []) if isinstance(e, dict)]
    return "\n".join(str(p) for p in parts)


def verify_card(bot: RunningBot, run_id: str = "VER-1") -> str:
    run = records.get(bot.deps.store, run_id)
    assert run.channel_id and run.card_ts, f"{run_id} has no card"
    message = bot.slack.message(run.channel_id, run.card_ts)
    assert message is not None
    return text_of(message)


# ----------------------------------------------------------------- the runbook, healthy


def test_the_runbook_command_in_a_war_room_passes_and_is_recorded(
    vbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(vbot)
    deployed(vbot, room, "v2.1.1")
    reply = command(vbot, RUNBOOK, channel_id=room)
    assert "VER-1 started: 31 samples over 5 min." in text_of(reply)
    run = records.get(vbot.deps.store, "VER-1")
    assert run.state is RunState.PASSED
    assert (run.service, run.environment, run.name, run.version) == (
        "payments",
        "production",
        "critical",
        "v2.1.1",
    )
    assert run.channel_id == room and run.incident_id == "INC-1"
    card = verify_card(vbot)
    assert "VER-1: verify critical on payments/production (v2.1.1)" in card
    assert "passed after 31/31 samples" in card
    assert target.health_url in card and "HTTP 200" in card and " ms" in card
    assert "target production — from DEP-1, INC-1's last deployment" in card
    # Posted once, edited while it ran (every few samples), then with the verdict.
    updates = [c for c in vbot.slack.calls_to("chat.update") if c.args.get("ts") == run.card_ts]
    assert 5 <= len(updates) <= 15
    (started,) = events(vbot, "verify_started")
    (passed,) = events(vbot, "verify_passed")
    assert "VER-1" in started.text and "31 healthy sample(s)" in passed.text
    assert records.latest_passed(
        vbot.deps.store,
        kind=RunKind.VERIFY,
        service="payments",
        environment="production",
        version="v2.1.1",
    ) == records.get(vbot.deps.store, "VER-1")
    assert target.live == "v2.1.1"


# ----------------------------------------------------------------- failing, rolled back


def test_a_failing_endpoint_with_auto_rollback_rolls_the_last_deployment_back(
    vbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(vbot)
    deployed(vbot, room, "v2.1.1")
    deployed(vbot, room, "v2.1.2")
    target.bad_versions.add("v2.1.2")
    command(vbot, RUNBOOK, channel_id=room)
    run = records.get(vbot.deps.store, "VER-1")
    assert run.state is RunState.FAILED and run.version == "v2.1.2"
    assert "endpoint failed at sample 1" in run.detail["summary"]
    # The Rollback button's path: DEP-2 (what ran v2.1.2) rolled back, by the script.
    assert deployments.get(vbot.deps.store, "DEP-2").state is State.ROLLED_BACK
    assert target.live == "v2.1.1"
    assert target.calls()[-1][0] == "rollback"
    card = verify_card(vbot)
    assert "Failed" in card and "HTTP 503, expected 200" in card
    assert "Auto-rollback: Rolling back DEP-2." in card
    assert records.get(vbot.deps.store, "VER-1").detail["rollback"]["deployment_id"] == "DEP-2"
    assert [e.kind for e in events(vbot) if e.kind.startswith(("verify_", "deploy_rolled"))] == [
        "verify_started",
        "verify_failed",
        "deploy_rolled_back",
    ]
    assert (
        records.latest_passed(
            vbot.deps.store,
            kind=RunKind.VERIFY,
            service="payments",
            environment="production",
            version="v2.1.2",
        )
        is None
    )


def test_auto_rollback_where_rollbacks_need_approval_files_a_rollback_request(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start(slack, target, tmp_path / "bot.db", clock, rollback_approval="approvals")
    try:
        room = war_room(bot, 'incident create --severity=sev3 --title="Slow checkout"')
        deployed(bot, room, "v2.1.1")
        deployed(bot, room, "v2.1.2")
        target.bad_versions.add("v2.1.2")
        command(bot, RUNBOOK, channel_id=room)
        # approvals: 0 in this environment, so the rollback request DEP-3 starts at once.
        rollback = deployments.get(bot.deps.store, "DEP-3")
        assert rollback.kind.value == "rollback" and rollback.state is State.ROLLED_BACK
        assert target.live == "v2.1.1"
        assert "Auto-rollback: DEP-3 needs no approval: started." in verify_card(bot)
    finally:
        bot.stop()


def test_without_auto_rollback_a_failure_says_what_to_run(
    vbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(vbot)
    deployed(vbot, room, "v2.1.1")
    target.bad_versions.add("v2.1.1")
    command(vbot, "verify --endpoints=critical --duration=90s", channel_id=room)
    assert records.get(vbot.deps.store, "VER-1").state is RunState.FAILED
    assert "To roll back: `/hotfix rollback --target=production --service=payments`" in (
        verify_card(vbot)
    )
    assert target.live == "v2.1.1"
    assert deployments.get(vbot.deps.store, "DEP-1").state is State.SUCCEEDED


def test_auto_rollback_with_no_deployment_says_so_and_does_nothing(
    vbot: RunningBot, target: DeployTarget
) -> None:
    target.bad_versions.add("v2.1.0")
    command(vbot, f"{RUNBOOK} {PROD}", channel_id="C0GENERAL")
    assert records.get(vbot.deps.store, "VER-1").state is RunState.FAILED
    assert "hotfix-bot has no deployment of payments/production to roll back" in verify_card(vbot)
    assert target.calls() == []


def test_a_failing_metric_fails_the_verification(
    slack: SlackEmulator,
    target: DeployTarget,
    tmp_path: Path,
    clock: ManualClock,
    prom: PrometheusStandIn,
) -> None:
    bot = start(slack, target, tmp_path / "bot.db", clock, prom=prom)
    try:
        room = war_room(bot)
        deployed(bot, room, "v2.1.1")
        prom.respond = lambda query: PromReply(
            body=vector(({}, "0.25" if 'version="v2.1.1"' in query else "0"))
        )
        command(bot, "verify --endpoints=critical --duration=1m", channel_id=room)
        run = records.get(bot.deps.store, "VER-1")
        assert run.state is RunState.FAILED
        assert run.detail["summary"].startswith("metrics failed")
        card = verify_card(bot)
        assert "`HighErrorRate` 0.25 (fails when &gt; 0.05)" in card
        assert "To roll back:" in card
        assert any('version="v2.1.1"' in s.params.get("query", "") for s in prom.seen)
    finally:
        bot.stop()


def test_healthy_metrics_are_shown_against_their_thresholds(
    slack: SlackEmulator,
    target: DeployTarget,
    tmp_path: Path,
    clock: ManualClock,
    prom: PrometheusStandIn,
) -> None:
    bot = start(slack, target, tmp_path / "bot.db", clock, prom=prom)
    try:
        command(bot, f"verify --endpoints=extra --duration=30s {PROD}", channel_id="C0GENERAL")
        run = records.get(bot.deps.store, "VER-1")
        assert run.state is RunState.PASSED, run.detail
        assert "`HighErrorRate` 0.001 (fails when &gt; 0.05)" in verify_card(bot)
        assert run.detail["samples"] == 4  # 0, 10, 20 and 30 s
    finally:
        bot.stop()


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("duration", "says"),
    [
        ("5x", "is not a duration: use 90s, 5m, 1h or a number of seconds"),
        ("2h", "out of range: a verification lasts from 10 s to 1 h"),
        ("5", "out of range"),
        ("-5m", "is not a duration"),
    ],
)
def test_duration_errors_say_what_is_accepted(vbot: RunningBot, duration: str, says: str) -> None:
    reply = command(vbot, f"verify {PROD} --duration={duration}")
    assert says in text_of(reply)
    assert vbot.deps.store.query("SELECT id FROM pipeline_runs") == []


def test_unknown_group_and_target_list_the_configured_ones(vbot: RunningBot) -> None:
    group = text_of(command(vbot, f"verify {PROD} --endpoints=payments-api"))
    assert "payments/production has no endpoint group 'payments-api'" in group
    assert "Configured: critical, extra." in group
    several = text_of(command(vbot, f"verify {PROD}"))
    assert "has several: critical, extra" in several
    target = text_of(command(vbot, "verify --target=qa --service=payments"))
    assert "payments has no environment 'qa'" in target and "production" in target
    assert vbot.deps.store.query("SELECT id FROM pipeline_runs") == []


def test_hostile_values_are_answered_briefly_and_never_echoed_whole(vbot: RunningBot) -> None:
    hostile = "<!channel> <@U0BOSS>\u202e\nrm -rf /" + "a" * 10_000
    for flag in ("--endpoints", "--target", "--service", "--duration"):
        reply = command(vbot, f'verify {PROD} {flag}="{hostile}"')
        text = text_of(reply)
        assert len(text) < 2_000, (flag, len(text))
        assert "<!channel>" not in text and "<@U0BOSS>" not in text
        assert "a" * 100 not in text
    assert vbot.deps.store.query("SELECT id FROM pipeline_runs") == []


def test_only_the_environments_requesters_may_verify(vbot: RunningBot) -> None:
    reply = command(vbot, f"verify {PROD} --endpoints=critical", user_id="U0CAROL")
    assert "Only configured requesters may verify production." in text_of(reply)
    assert vbot.deps.store.query("SELECT id FROM pipeline_runs") == []


def test_a_retried_request_runs_nothing_twice(vbot: RunningBot, target: DeployTarget) -> None:
    first = vbot.driver.slash(f"{RUNBOOK} {PROD}")
    assert first.response_id is not None
    vbot.slack.wait_for_response(first.response_id, timeout=20)
    vbot.settle(timeout=60)
    again = vbot.driver.replay(first, retry_num=1)
    assert again.status == 200
    answers = vbot.slack.wait_for_response(first.response_id, count=2, timeout=20)
    vbot.settle(timeout=60)
    assert "VER-1 was already started by this request." in text_of(answers[1])
    assert [r["id"] for r in vbot.deps.store.query("SELECT id FROM pipeline_runs")] == ["VER-1"]
    assert len(events(vbot, "verify_started", incident_id=None)) == 1


# ----------------------------------------------------------------- the console


@pytest.fixture
def production(target: DeployTarget) -> dict[str, object]:
    """payments/production for the console's fixtures (tests/harness/console_fixtures.py)."""
    return {
        "approvals": 0,
        "verify_seconds": 0,
        "health_checks": [],
        "endpoints": {"critical": [{"url": target.health_url, "body_contains": '"ok"'}]},
    }


def test_the_console_runs_the_runbook_command_and_prints_the_card(
    cdeps: Deps, printed: io.StringIO, target: DeployTarget
) -> None:
    shell = Console(cdeps, build_router(cdeps.settings), actor="console:alice")
    shell.handle('incident create --severity=sev1 --title="Payments failing"')
    shell.handle("deploy --service=payments --target=production --version=v2.1.1")
    assert cdeps.worker.drain(timeout=60)
    target.bad_versions.add("v2.1.1")
    answer = shell.handle(RUNBOOK)
    assert "VER-1 started: 31 samples over 5 min." in answer
    assert cdeps.worker.drain(timeout=60)
    assert records.get(cdeps.store, "VER-1").state is RunState.FAILED
    assert target.live == "v2.1.0"  # DEP-1 rolled back by its Rollback's path
    shown = printed.getvalue()
    assert "VER-1: verify critical on payments/production (v2.1.1)" in shown
    assert "failed after 1/31 samples" in shown
    assert "Auto-rollback: Rolling back DEP-1." in shown
