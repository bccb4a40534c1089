"""The deploy pipeline around a rollout: the staging gate, smoke tests, database migrations
and hooks, through the bot (Slack emulator), real scripts (tests/harness/pipeline_scripts.py)
and the command backend (tests/harness/deploy_target.py).

staging and production run the same target's scripts; production `requires: [staging]`.
The scripts log to the target's calls.log, so a test reads deploys, rollbacks and
migrations in the order they ran.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.console import Console
from bot.wiring import build_deps, build_router, close_deps
from handlers.console.chat import ConsoleChat
from services import audit
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from services.pipeline import records
from services.pipeline.records import NewRun, RunKind
from services.settings import Settings
from tests.harness.bot_actions import card_text, click, command, events, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.pipeline_scripts import PipelineScripts
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STAGING = "--target=staging --service=payments"
PROD = "--target=production --service=payments"


@pytest.fixture
def scripts(target: DeployTarget, tmp_path: Path) -> PipelineScripts:
    return PipelineScripts(tmp_path / "pipeline", target.root / "calls.log")


def start(
    slack: SlackEmulator,
    target: DeployTarget,
    scripts: PipelineScripts,
    path: Path,
    clock: ManualClock,
) -> RunningBot:
    slack.add_user("U0CAROL", "carol")
    common: dict[str, Any] = {
        "approvals": 1,
        "smoke": [{"name": "smoke-checkout", "argv": scripts.argv("smoke", "{version}")}],
        "after_deploy": [{"name": "purge-cdn", "argv": scripts.argv("purge-cdn", "{version}")}],
        "after_rollback": [
            {"name": "flush-cache", "argv": scripts.argv("flush-cache", "{version}")}
        ],
    }
    staging = target.rollback_environment(
        **common, suites={"critical-path": [scripts.argv("suite")]}
    )
    production = target.rollback_environment(
        **common,
        requires=["staging"],
        break_glass={"severities": ["sev0"], "approvals": 1},
    )
    return start_bot(
        slack=slack,
        store_path=path,
        clock=clock,
        extra_settings={
            "services": {
                "payments": {
                    "environments": {"staging": staging, "production": production},
                    "migrations": scripts.migrations(),
                }
            },
            "access": {"deployers": ["U0ALICE"]},
        },
    )


@pytest.fixture
def pbot(
    slack: SlackEmulator,
    target: DeployTarget,
    scripts: PipelineScripts,
    tmp_path: Path,
    clock: ManualClock,
) -> Iterator[RunningBot]:
    running = start(slack, target, scripts, tmp_path / "bot.db", clock)
    yield running
    running.stop()


def deploy(bot: RunningBot, room: str, where: str, version: str, *flags: str) -> str:
    """Request and approve a deployment; returns its id."""
    reply = command(bot, f"deploy {where} --version={version} {' '.join(flags)}", channel_id=room)
    deployment_id = reply["text"].split()[0]
    assert deployment_id.startswith("DEP-"), reply
    click(bot, "hotfix_deploy_approve", deployment_id, "U0BOB")
    return deployment_id


def passed(bot: RunningBot, kind: RunKind, version: str, environment: str = "staging") -> None:
    """A validate or verify run that passed, as /hotfix validate or verify records it."""
    run, _ = records.create(
        bot.deps.store,
        clock=bot.deps.clock,
        new=NewRun(
            kind=kind,
            service="payments",
            environment=environment,
            version=version,
            name="critical-path" if kind is RunKind.VALIDATE else "critical",
            requested_by="U0ALICE",
            incident_id=None,
            channel_id=None,
            request_key=None,
            detail={},
        ),
    )
    records.finish(bot.deps.store, clock=bot.deps.clock, run_id=run.id, passed=True, summary="ok")


def thread(bot: RunningBot, deployment_id: str) -> str:
    d = deployments.get(bot.deps.store, deployment_id)
    assert d.channel_id and d.card_ts
    return "\n".join(
        m["text"] + "\n" + "\n".join(b["text"]["text"] for b in m["blocks"] if "text" in b)
        for m in bot.slack.thread(d.channel_id, d.card_ts)
    )


def reply_text(reply: dict[str, Any]) -> str:
    return (
        reply["text"]
        + "\n"
        + "\n".join(
            b["text"]["text"] for b in reply.get("blocks", []) if isinstance(b.get("text"), dict)
        )
    )


def step_rows(bot: RunningBot, deployment_id: str) -> dict[str, str]:
    return {
        e.data["step"]: e.data["result"]
        for e in events(bot, "deploy_step")
        if e.data["deployment_id"] == deployment_id
    }


# ----------------------------------------------------------------- 1. staging before production


def test_production_is_refused_until_the_version_passed_staging_and_says_what_to_run(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    reply = command(pbot, f"deploy {PROD} --version=v2.4.1", channel_id=room)
    text = reply_text(reply)
    assert "v2.4.1 has not passed validate on staging" in text
    assert "v2.4.1 has not been deployed to staging" in text
    assert (
        "/hotfix validate --environment=staging --service=payments --version=v2.4.1"
        " --test-suite=critical-path" in text
    )
    assert "/hotfix deploy --target=staging --service=payments --version=v2.4.1" in text
    assert deployments.listing(pbot.deps.store) == []  # nothing recorded
    assert not [e for e in events(pbot) if e.kind.startswith("deploy")]
    assert target.calls() == []
    (row,) = audit.search(pbot.deps.store, outcome="refused")
    assert "has not passed validate on staging" in row["detail"]


def test_production_accepts_the_version_once_validated_deployed_and_verified_on_staging(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    passed(pbot, RunKind.VALIDATE, "v2.4.1")
    staged = deploy(pbot, room, STAGING, "v2.4.1", "--no-verify")
    assert deployments.get(pbot.deps.store, staged).state is State.SUCCEEDED
    # --no-verify does not count: the gate asks for an on-demand verify.
    text = reply_text(command(pbot, f"deploy {PROD} --version=v2.4.1", channel_id=room))
    assert "deployed to staging with --no-verify" in text
    assert "has not passed validate" not in text
    assert "/hotfix verify --target=staging --service=payments" in text
    passed(pbot, RunKind.VERIFY, "v2.4.1")
    shipped = deploy(pbot, room, PROD, "v2.4.1")
    assert deployments.get(pbot.deps.store, shipped).state is State.SUCCEEDED
    assert target.live == "v2.4.1"
    # Another version is still refused: the gate is per version.
    other = reply_text(command(pbot, f"deploy {PROD} --version=v2.4.2", channel_id=room))
    assert "v2.4.2 has not passed validate on staging" in other


def test_break_glass_skips_the_staging_gate_loudly(pbot: RunningBot, target: DeployTarget) -> None:
    room = war_room(pbot, 'incident create --severity=sev0 --title="Payments down"')
    shipped = deploy(pbot, room, PROD, "v2.4.1")
    d = deployments.get(pbot.deps.store, shipped)
    assert d.state is State.SUCCEEDED and target.live == "v2.4.1"
    card = card_text(pbot, shipped)
    assert "BREAK-GLASS: skipped staging gate: v2.4.1 has not passed validate on staging" in card
    (row,) = events(pbot, "deploy_gate_skipped")
    assert "BREAK-GLASS: skipped staging gate" in row.text and shipped in row.text
    found = [
        e
        for e in audit.search(pbot.deps.store)
        if e["action"] == "deploy_gate_break_glass" and shipped in e["detail"]
    ]
    assert found and "has not been deployed to staging" in found[0]["detail"]


# ----------------------------------------------------------------- 2. smoke tests


def test_a_failing_smoke_test_fails_the_deploy_and_rolls_back(
    pbot: RunningBot, target: DeployTarget, scripts: PipelineScripts
) -> None:
    room = war_room(pbot)
    scripts.fail("smoke")
    scripts.hostile()  # 10 KB with mentions and RTL marks: the card still renders
    dep = deploy(pbot, room, STAGING, "v2.4.1")
    d = deployments.get(pbot.deps.store, dep)
    assert d.state is State.ROLLED_BACK and target.live == "v2.1.0"
    names = [c[0] for c in target.calls()]
    assert names == [
        "up", "deploy", "smoke", "rollback", "down", "verify", "flush-cache"
    ]  # fmt: skip
    assert "purge-cdn" not in names  # after_deploy runs after a successful deploy only
    rows = step_rows(pbot, dep)
    assert rows["smoke"] == "failed" and rows["rollback"] == "ok"
    card = card_text(pbot, dep)
    assert ":x: smoke (" in card
    assert "Smoke tests failed: check smoke-checkout exited with 4" in card
    assert 'ERROR relation "ledger" is locked' in card  # the output's tail
    assert "<!channel>" not in card and len(card) < 12_000
    assert "Rolling back automatically" in thread(pbot, dep)


# ----------------------------------------------------------------- 3. migrations


def test_a_deploy_migrates_up_before_the_rollout_and_a_rollback_runs_down_then_verify(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    dep = deploy(pbot, room, STAGING, "v2.4.1")
    assert deployments.get(pbot.deps.store, dep).state is State.SUCCEEDED
    assert target.calls() == [
        ["up", "v2.4.1", "staging"],
        ["deploy", "v2.4.1"],
        ["smoke", "v2.4.1"],
        ["purge-cdn", "v2.4.1"],
    ]
    card = card_text(pbot, dep)
    assert "migrate-up" in card and "purge-cdn succeeded" in card
    click(pbot, "hotfix_deploy_rollback", dep, "U0ALICE")
    assert deployments.get(pbot.deps.store, dep).state is State.ROLLED_BACK
    # The code first (service restored), then the data: down and verify to v2.1.0's schema.
    assert target.calls()[4:] == [
        ["rollback", "v2.1.0", "staging"],
        ["down", "v2.1.0", "staging"],
        ["verify", "v2.1.0", "staging"],
        ["flush-cache", "v2.1.0"],
    ]
    rows = step_rows(pbot, dep)
    assert [rows[s] for s in ("migrate-down", "migrate-verify", "after-rollback")] == ["ok"] * 3
    assert "flush-cache succeeded" in card_text(pbot, dep)


def test_preserve_data_rolls_back_the_code_only(pbot: RunningBot, target: DeployTarget) -> None:
    room = war_room(pbot)
    deploy(pbot, room, STAGING, "v2.4.1")
    reply = command(
        pbot,
        f"rollback {STAGING} --version=previous --preserve-data --immediate",
        channel_id=room,
    )
    rollback = reply["text"].split()[0]
    assert deployments.get(pbot.deps.store, rollback).state is State.ROLLED_BACK
    names = [c[0] for c in target.calls()]
    assert "rollback" in names and "down" not in names and "verify" not in names
    assert step_rows(pbot, rollback)["migrate-down"] == "skipped"
    card = card_text(pbot, rollback)
    assert ":fast_forward: migrate-down (" in card
    assert "--preserve-data: code only, data and schema kept" in card
    assert "code only (--preserve-data)" in card


def test_a_requested_rollback_migrates_down_to_the_version_it_goes_back_to(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    deploy(pbot, room, STAGING, "v2.4.1")
    reply = command(pbot, f"rollback {STAGING} --version=v2.1.0 --immediate", channel_id=room)
    rollback = reply["text"].split()[0]
    assert deployments.get(pbot.deps.store, rollback).state is State.ROLLED_BACK
    assert target.calls()[4:] == [
        ["rollback", "v2.1.0", "staging"],
        ["down", "v2.1.0", "staging"],
        ["verify", "v2.1.0", "staging"],
        ["flush-cache", "v2.1.0"],
    ]


def test_a_failed_down_takes_the_snapshot_stops_and_calls_people(
    pbot: RunningBot, target: DeployTarget, scripts: PipelineScripts
) -> None:
    room = war_room(pbot)
    dep = deploy(pbot, room, STAGING, "v2.4.1")
    scripts.fail("down")
    scripts.hostile()  # the snapshot's path still reaches people under 10 KB of noise
    click(pbot, "hotfix_deploy_rollback", dep, "U0ALICE")
    d = deployments.get(pbot.deps.store, dep)
    assert d.state is State.FAILED
    assert [c[0] for c in target.calls()[4:]] == ["rollback", "down", "snapshot"]  # then stop
    said = thread(pbot, dep)
    assert "manual intervention required" in said
    assert "/backups/payments-v2.1.0.dump" in said  # the snapshot, named
    assert "<@U0ALICE>" in said  # the incident's commander is called
    assert "<!channel>" not in said and "<@U0EVE>" not in said
    card = card_text(pbot, dep)
    assert "MANUAL INTERVENTION REQUIRED" in card and "/backups/payments-v2.1.0.dump" in card
    rows = step_rows(pbot, dep)
    assert rows["migrate-down"] == "failed" and rows["migrate-snapshot"] == "ok"
    assert "rollback-verify" not in rows and "after-rollback" not in rows


def test_a_failed_up_fails_before_the_rollout_and_reverts_the_data_only(
    pbot: RunningBot, target: DeployTarget, scripts: PipelineScripts
) -> None:
    room = war_room(pbot)
    scripts.fail("up")
    dep = deploy(pbot, room, STAGING, "v2.4.1")
    assert deployments.get(pbot.deps.store, dep).state is State.ROLLED_BACK
    # Nothing rolled out; the database may have changed, so down and verify run.
    assert [c[0] for c in target.calls()] == ["up", "down", "verify", "flush-cache"]
    assert target.live == "v2.1.0"
    assert step_rows(pbot, dep)["rollback"] == "skipped"


# ----------------------------------------------------------------- 4. hooks


def test_a_failing_after_deploy_hook_is_reported_and_the_deploy_stays_succeeded(
    pbot: RunningBot, target: DeployTarget, scripts: PipelineScripts
) -> None:
    room = war_room(pbot)
    scripts.fail("purge-cdn")
    dep = deploy(pbot, room, STAGING, "v2.4.1")
    assert deployments.get(pbot.deps.store, dep).state is State.SUCCEEDED
    assert target.live == "v2.4.1" and "rollback" not in [c[0] for c in target.calls()]
    assert step_rows(pbot, dep)["after-deploy"] == "failed"
    card = card_text(pbot, dep)
    assert ":x: after-deploy (" in card
    assert "The after-deploy hook failed: check purge-cdn exited with 4" in card
    said = thread(pbot, dep)
    assert "The *after-deploy* hook" in said and "deployment itself is unaffected" in said


# ----------------------------------------------------------------- 5. the console


def test_the_console_prints_the_refusal_and_the_break_glass_line(
    target: DeployTarget, scripts: PipelineScripts, tmp_path: Path, clock: ManualClock
) -> None:
    printed = io.StringIO()
    production = target.rollback_environment(
        approvals=0, requires=["staging"], break_glass={"severities": ["sev0"], "approvals": 0}
    )
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "console.db")},
            "services": {
                "payments": {
                    "environments": {
                        "staging": target.rollback_environment(),
                        "production": production,
                    }
                }
            },
        }
    )
    deps = build_deps(
        settings,
        clock=clock,
        chat=lambda renderer, _store, _clock: ConsoleChat(renderer, out=printed),
    )
    try:
        alice = Console(deps, build_router(settings), actor="console:alice")
        alice.handle('incident create --severity=sev1 --title="Payments failing"')
        refused = alice.handle(f"deploy {PROD} --version=v2.4.1")
        assert "v2.4.1 has not passed validate on staging" in refused
        assert "/hotfix deploy --target=staging --service=payments --version=v2.4.1" in refused
        assert deployments.listing(deps.store) == []
        alice.handle('incident create --severity=sev0 --title="Payments down"')
        alice.handle(f"deploy {PROD} --version=v2.4.1")
        assert "BREAK-GLASS: skipped staging gate: v2.4.1 has not passed validate" in (
            printed.getvalue()
        )
    finally:
        close_deps(deps)
