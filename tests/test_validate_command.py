"""/hotfix validate through Slack: the runbook's command as typed in a war room, real check
scripts in a temp directory, a command-backend target, the card edited in place, the record
the promotion gate reads, replays and hostile input."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services import timeline
from services.clock import ManualClock
from services.pipeline import records, recovery, validate_card
from services.pipeline.records import NewRun, RunKind, RunState
from services.store import Store
from tests.harness.bot_actions import command, war_room
from tests.harness.cli import run_cli
from tests.harness.deploy_target import DeployTarget
from tests.harness.git_repos import GitWorld
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PY = sys.executable
RUNBOOK = "validate --environment=staging --test-suite=critical-path"
TYPED = RUNBOOK + " --service=payments --version=v2.1.1"

CHECK = textwrap.dedent(
    """\
    import json, pathlib, sys, time
    root = pathlib.Path(__file__).parent
    name = pathlib.Path(__file__).stem
    (root / "calls.log").open("a").write(json.dumps([name, *sys.argv[1:]]) + "\\n")
    if name == "slow":
        time.sleep(30)
    if name == "failing" or (root / f"fail-{name}").exists():
        for n in range(40):
            print(f"{name} line {n}")
        print("AssertionError: checkout returned 500")
        sys.exit(1)
    print(f"{name} ok")
    """
)


class Scripts:
    """Real check scripts in a temp directory; each logs its argv to calls.log."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for name in ("smoke", "checkout", "failing", "slow", "migrate"):
            (root / f"{name}.py").write_text(CHECK)

    def argv(self, name: str, *args: str) -> list[str]:
        return [PY, str(self.root / f"{name}.py"), *args]

    def check(self, name: str, *args: str, **more: Any) -> dict[str, Any]:
        """A suite's check, named (else it would be named after the program: python3)."""
        return {"name": name, "argv": self.argv(name, *args), **more}

    def calls(self) -> list[list[str]]:
        log = self.root / "calls.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def fail(self, name: str) -> None:
        (self.root / f"fail-{name}").touch()


@pytest.fixture
def scripts(tmp_path: Path) -> Scripts:
    return Scripts(tmp_path / "checks")


def staging(target: DeployTarget, scripts: Scripts) -> dict[str, Any]:
    return target.environment(
        approvals=0,
        suites={
            "critical-path": [
                scripts.check("smoke", "{version}", "{environment}"),
                scripts.check("checkout", "{service}"),
            ],
            "broken": [scripts.check("smoke", "{version}"), scripts.check("failing")],
            "slow": [scripts.check("slow", "{version}", timeout_seconds=0.5)],
        },
    )


def service_settings(target: DeployTarget, scripts: Scripts, **more: Any) -> dict[str, Any]:
    return {
        "environments": {"staging": staging(target, scripts)},
        "migrations": {"check": scripts.argv("migrate", "{version}")},
        **more,
    }


@pytest.fixture
def vbot(
    slack: SlackEmulator,
    target: DeployTarget,
    scripts: Scripts,
    tmp_path: Path,
    clock: ManualClock,
) -> Iterator[RunningBot]:
    slack.add_user("U0DAVE", "dave")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "services": {"payments": service_settings(target, scripts)},
            "access": {"deployers": ["U0ALICE"]},
            "incidents": {"announcement_channel": "C0INCIDENTS"},
        },
    )
    yield running
    running.stop()


def card_of(bot: RunningBot, run_id: str = "VAL-1") -> str:
    run = records.get(bot.deps.store, run_id)
    assert run.channel_id and run.card_ts, f"{run_id} has no card"
    message = bot.slack.message(run.channel_id, run.card_ts)
    assert message is not None
    parts = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        parts += [e.get("text", "") for e in block.get("elements", []) if "text" in e]
    return "\n".join(parts)


def card_edits(bot: RunningBot, run_id: str = "VAL-1") -> list[dict[str, Any]]:
    run = records.get(bot.deps.store, run_id)
    return [c.args for c in bot.slack.calls_to("chat.update") if c.args.get("ts") == run.card_ts]


# ------------------------------------------------------------------------------ the runbook


@pytest.mark.usefixtures("isolated_git")
def test_the_runbook_command_as_typed_in_a_war_room(
    slack: SlackEmulator,
    world: GitWorld,
    target: DeployTarget,
    scripts: Scripts,
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    bot = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "services": {
                "payments": service_settings(
                    target, scripts, git=world.settings().model_dump(mode="json")
                ),
                "orders": {"environments": {"staging": staging(target, scripts)}},
            },
            "access": {"deployers": ["U0ALICE"]},
            "incidents": {"announcement_channel": "C0INCIDENTS"},
        },
    )
    try:
        room = war_room(bot)
        created = command(bot, "create --issue=PROD-2847 --from=production", channel_id=room)
        assert "hotfix/PROD-2847" in created["text"], created
        world.fix_on_hotfix("hotfix/PROD-2847")
        assert "v2.1.1" in command(bot, "finish", channel_id=room)["text"]

        reply = command(bot, RUNBOOK, channel_id=room)
        assert reply["text"] == (
            "VAL-1 started: 4 check(s) of critical-path on payments/staging (v2.1.1)."
        ), reply
        assert scripts.calls() == [
            ["migrate", "v2.1.1"],
            ["smoke", "v2.1.1", "staging"],
            ["checkout", "payments"],
        ]
        run = records.get(bot.deps.store, "VAL-1")
        assert (run.state, run.service, run.version, run.name, run.incident_id) == (
            RunState.PASSED,
            "payments",
            "v2.1.1",
            "critical-path",
            "INC-1",
        )
        assert run.channel_id == room
        card = card_of(bot)
        assert "VAL-1: critical-path · payments v2.1.1 → staging" in card
        assert ":white_check_mark: Passed" in card
        for name in ("configuration", "migrations", "smoke", "checkout"):
            assert f":white_check_mark: {name}" in card
        assert "service payments — from hotfix PROD-2847 of INC-1" in card
        assert "version v2.1.1 — inferred from hotfix PROD-2847's finish" in card
        # Posted once, then edited in place as each check started and ended.
        assert len(card_edits(bot)) == 2 * 4 + 1
        kinds = [e.kind for e in timeline.events(bot.deps.store, incident_id="INC-1")]
        assert kinds.index("validate_started") < kinds.index("validate_passed")
        gate = records.latest_passed(
            bot.deps.store,
            kind=RunKind.VALIDATE,
            service="payments",
            environment="staging",
            version="v2.1.1",
        )
        assert gate is not None and gate.id == "VAL-1"
    finally:
        bot.stop()


# ------------------------------------------------------------------------------ outcomes


def test_a_failing_check_fails_the_run_with_its_last_lines_on_the_card(
    vbot: RunningBot, scripts: Scripts
) -> None:
    reply = command(vbot, TYPED.replace("critical-path", "broken"))
    assert reply["text"].startswith("VAL-1 started: 4 check(s) of broken"), reply
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.state is RunState.FAILED
    assert run.detail["summary"] == "failing exited with 1"
    card = card_of(vbot)
    assert ":x: Failed" in card and ":x: failing" in card and ":white_check_mark: smoke" in card
    assert "AssertionError: checkout returned 500" in card
    assert "failing line 39" in card and "failing line 3\n" not in card  # the tail only
    assert (
        records.latest_passed(
            vbot.deps.store,
            kind=RunKind.VALIDATE,
            service="payments",
            environment="staging",
            version="v2.1.1",
        )
        is None
    )
    (failed,) = [
        e for e in timeline.events(vbot.deps.store, incident_id=None) if e.kind == "validate_failed"
    ]
    assert "failing exited with 1" in failed.text


def test_a_check_that_outlives_its_timeout_is_timed_out(vbot: RunningBot) -> None:
    command(vbot, TYPED.replace("critical-path", "slow"))
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.state is RunState.FAILED
    assert run.detail["summary"] == "slow timed out after 0.5 s"
    assert ":alarm_clock: slow" in card_of(vbot)


def test_a_failing_migration_dry_run_fails_the_run(vbot: RunningBot, scripts: Scripts) -> None:
    scripts.fail("migrate")
    command(vbot, TYPED)
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.state is RunState.FAILED
    assert run.detail["summary"] == "migrations exited with 1"
    card = card_of(vbot)
    assert ":x: migrations _(built-in)_" in card and "AssertionError" in card
    # The suite still ran: every check's result is on the card.
    assert [c[0] for c in scripts.calls()] == ["migrate", "smoke", "checkout"]


def test_a_version_deployed_by_hand_is_caught_as_drift(
    vbot: RunningBot, target: DeployTarget
) -> None:
    reply = command(vbot, "deploy --target=staging --service=payments --version=v2.1.1")
    assert "DEP-1 needs no approval: started." in reply["text"], reply
    assert target.live == "v2.1.1"
    (target.root / "live").write_text("v2.0.9")  # someone ran the deploy script by hand
    command(vbot, TYPED)
    run = records.get(vbot.deps.store, "VAL-1")
    assert run.state is RunState.FAILED
    card = card_of(vbot)
    assert ":x: configuration _(built-in)_" in card
    assert (
        "payments/staging runs v2.0.9, but the bot's last deployment there (DEP-1) left v2.1.1"
        in card
    )


# ------------------------------------------------------------------------------ answers


def test_unknown_suite_environment_and_service_say_what_exists(vbot: RunningBot) -> None:
    suite = command(vbot, TYPED.replace("critical-path", "nightly"))
    assert "payments/staging has no test suite 'nightly'" in str(suite)
    assert "Configured: broken, critical-path, slow." in str(suite)
    env = command(vbot, TYPED.replace("staging", "qa"))
    assert "payments has no environment 'qa'" in str(env) and "Configured: staging." in str(env)
    svc = command(vbot, TYPED.replace("payments", "orders"))
    assert "There is no deployable service 'orders'" in str(svc)
    which = command(vbot, "validate --environment=staging --service=payments --version=v1")
    assert "Which test suite? payments/staging has several: broken, critical-path, slow." in str(
        which
    )
    assert "--test-suite" in str(which)
    nothing = command(vbot, "validate --environment=staging --test-suite=critical-path")
    assert "Which version?" in str(nothing)
    assert "/hotfix validate --environment=staging --service=payments --version=v…" in str(nothing)
    assert vbot.deps.store.query("SELECT * FROM pipeline_runs") == []


@pytest.mark.parametrize(
    "flag",
    [
        "--version=" + "A" * 10_000,
        "--version=<!channel>",
        "--version=v1\u202egnp.exe",
        '--version="v1\nv2"',
        "--test-suite=" + "<@U0BOB>" * 1000,
        '--test-suite="crit\u202eical\npath"',
        "--environment=" + "<!here>" * 2000,
        "--service=" + "<!subteam^S1>" * 500,
    ],
)
def test_hostile_input_gets_a_short_clear_answer(vbot: RunningBot, flag: str) -> None:
    base = {
        "--environment": "--environment=staging",
        "--test-suite": "--test-suite=critical-path",
        "--service": "--service=payments",
        "--version": "--version=v2.1.1",
    }
    base[flag.split("=")[0]] = flag
    reply = command(vbot, "validate " + " ".join(base.values()))
    text = str(reply)
    said = ("is not a valid version", " has no ", "There is no deployable service")
    assert any(words in text for words in said), text[:300]
    assert len(text) < 2_000, text[:300]
    for raw in ("<!channel>", "<!here>", "<@U0BOB>", "<!subteam", "A" * 100):
        assert raw not in text
    assert vbot.deps.store.query("SELECT * FROM pipeline_runs") == []


def test_a_replayed_request_runs_nothing_twice(vbot: RunningBot, scripts: Scripts) -> None:
    first = vbot.driver.slash(TYPED)
    vbot.settle(timeout=60)
    again = vbot.driver.replay(first)
    assert again.status == 200
    vbot.settle(timeout=60)
    assert len(scripts.calls()) == 3  # migrate, smoke, checkout: once
    assert len(vbot.deps.store.query("SELECT * FROM pipeline_runs")) == 1
    started = [
        e
        for e in timeline.events(vbot.deps.store, incident_id=None)
        if e.kind == "validate_started"
    ]
    assert len(started) == 1


def test_only_the_environments_requesters_may_validate(vbot: RunningBot, scripts: Scripts) -> None:
    reply = command(vbot, TYPED, user_id="U0DAVE")
    assert "Only configured requesters may validate on staging." in str(reply)
    assert scripts.calls() == []
    refused = [a for a in vbot.audit() if a["outcome"] == "refused"]
    assert [a["actor"] for a in refused] == ["U0DAVE"]


# ------------------------------------------------------------------------------ console


def terminal_config(tmp_path: Path, target: DeployTarget, scripts: Scripts) -> Path:
    """A config file for the bot at a terminal (the console, or one command)."""
    config = tmp_path / "hotfix.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp_path / "terminal.db")},
                "access": {"console_is_trusted": True},
                "services": {"payments": service_settings(target, scripts)},
            }
        )
    )
    return config


def test_the_console_runs_it_and_prints_the_card(
    target: DeployTarget, scripts: Scripts, tmp_path: Path
) -> None:
    config = terminal_config(tmp_path, target, scripts)
    done = run_cli(
        "--config",
        str(config),
        "console",
        "--user",
        "alice",
        cwd=tmp_path,
        stdin=f"{TYPED}\n{TYPED.replace('critical-path', 'broken')}\nquit\n",
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    out = done.stdout
    assert "VAL-1 started: 4 check(s) of critical-path on payments/staging (v2.1.1)." in out, out
    assert "VAL-1: critical-path · payments v2.1.1 → staging" in out, out
    assert "Passed" in out and "Failed" in out, out
    assert "AssertionError: checkout returned 500" in out, out
    store = Store(tmp_path / "terminal.db")
    try:
        states = [
            r["state"] for r in store.query("SELECT state FROM pipeline_runs ORDER BY number")
        ]
        assert states == ["passed", "failed"]
    finally:
        store.close()


def test_a_terminal_command_prints_the_outcome_not_only_that_it_started(
    target: DeployTarget, scripts: Scripts, tmp_path: Path
) -> None:
    """`hotfix-bot validate …` has no channel and no card to watch: the finished card reaches
    the person at the terminal once, directly, as a deployment's outcome does."""
    config = terminal_config(tmp_path, target, scripts)
    done = run_cli(
        "--config",
        str(config),
        "--user",
        "alice",
        *TYPED.split(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "VAL-1 started" in out, out
    assert "[DM @alice" in out and "Passed" in out and "all 4 checks passed" in out, out
    assert out.count("all 4 checks passed") == 1, out


def test_a_run_found_running_at_start_up_is_marked_interrupted(vbot: RunningBot) -> None:
    deps = vbot.deps
    # What a bot that died mid-run left: the run recorded running, its card posted.
    run, _ = records.create(
        deps.store,
        clock=deps.clock,
        new=NewRun(
            kind=RunKind.VALIDATE,
            service="payments",
            environment="staging",
            version="v2.1.1",
            name="critical-path",
            requested_by="U0ALICE",
            incident_id=None,
            channel_id="C0GENERAL",
            request_key=None,
            detail={"checks": [{"name": "smoke", "state": "running"}]},
        ),
    )
    validate_card.post_or_update(deps.store, run, chat=deps.chat)
    assert recovery.recover_after_restart(deps.store, clock=deps.clock, chat=deps.chat) == ["VAL-1"]
    assert records.get(deps.store, "VAL-1").state is RunState.INTERRUPTED
    assert "Interrupted by a restart of the bot: run it again" in card_of(vbot)
    kinds = [e.kind for e in timeline.events(deps.store, incident_id=None)]
    assert "validate_interrupted" in kinds
    # Nothing is left running: a second start finds nothing to interrupt.
    assert recovery.recover_after_restart(deps.store, clock=deps.clock, chat=deps.chat) == []


def test_a_script_target_whose_status_command_fails_is_inconsistent(
    vbot: RunningBot, target: DeployTarget
) -> None:
    (target.root / "status.py").write_text(
        "import sys\nprint('kubectl: connection refused')\nsys.exit(1)\n"
    )
    command(vbot, TYPED)
    assert records.get(vbot.deps.store, "VAL-1").state is RunState.FAILED
    assert "payments/staging: status command exited with 1: kubectl: connection refused" in card_of(
        vbot
    )
