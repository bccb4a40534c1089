"""The runbook's commands as typed in a war room: what the bot infers, and what it refuses.

A real git origin (tags made by `/hotfix finish`), a command-backend target running real
scripts, the bot in HTTP mode against the Slack emulator.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from services.incidents import records as incidents
from services.incidents.model import Severity
from tests.harness.bot_actions import card_text, click, command, events, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.git_repos import GitWorld, git
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]

ANNOUNCE = "C0INCIDENTS"
DECLARE = 'incident create --severity=critical --title="Payment Gateway Down"'
DECLARE_SEV1 = 'incident create --severity=sev1 --title="Payment Gateway Down"'
CREATE = "create --issue=PROD-2847 --severity=critical --from=production"
HOSTILE = "<!channel> " + "\u202e" * 3 + "x\n" * 5000


def settings(
    world: GitWorld,
    target: DeployTarget,
    *,
    announce: bool = True,
    other_service: bool = False,
    git: dict[str, object] | None = None,
) -> dict[str, object]:
    services: dict[str, object] = {
        "payments": {
            "git": git or world.settings().model_dump(mode="json"),
            "environments": {"production": target.rollback_environment()},
        }
    }
    if other_service:  # a second deployable service, without a repository
        services["orders"] = {"environments": {"production": target.rollback_environment()}}
    return {
        "services": services,
        "access": {"deployers": ["U0ALICE"]},
        "incidents": {"announcement_channel": ANNOUNCE} if announce else {},
    }


BotFactory = Callable[..., RunningBot]


@pytest.fixture
def make_bot(
    slack: SlackEmulator, world: GitWorld, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[BotFactory]:
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id=ANNOUNCE, members=("UBOT",))
    started: list[RunningBot] = []

    def make(**options: object) -> RunningBot:
        running = start_bot(
            slack=slack,
            store_path=tmp_path / "bot.db",
            clock=clock,
            extra_settings=settings(world, target, **options),  # type: ignore[arg-type]
        )
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def rbot(make_bot: BotFactory) -> RunningBot:
    return make_bot()


def finished_hotfix(bot: RunningBot, world: GitWorld, room: str) -> None:
    """The runbook's create and finish, with a fix pushed in between: tags v2.1.1."""
    created = command(bot, CREATE, channel_id=room)
    assert created["text"].startswith("Hotfix branch hotfix/PROD-2847 created"), created
    world.fix_on_hotfix("hotfix/PROD-2847")
    finished = command(bot, "finish", channel_id=room)
    assert finished["text"] == "Hotfix PROD-2847 finished: v2.1.1", finished


def shown(reply: dict) -> str:
    """Everything an answer shows: its text and its blocks' text, as Slack displays it."""
    parts = [reply.get("text", "")]
    for block in reply.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [e.get("text", "") for e in block.get("elements", []) if isinstance(e, dict)]
    return html.unescape("\n".join(str(p) for p in parts))


def deployment_count(bot: RunningBot) -> int:
    row = bot.deps.store.query_one("SELECT COUNT(*) AS n FROM deployments")
    assert row is not None
    return int(row["n"])


# ------------------------------------------------------------------ one severity vocabulary


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("critical", Severity.SEV1),
        ("CRITICAL", Severity.SEV1),
        ("high", Severity.SEV2),
        ("medium", Severity.SEV3),
        ("low", Severity.SEV3),
        ("SEV0", Severity.SEV0),
        ("sev2", Severity.SEV2),
    ],
)
def test_incidents_take_the_runbooks_severity_words(
    rbot: RunningBot, typed: str, expected: Severity
) -> None:
    command(rbot, f'incident create --severity={typed} --title="Payment Gateway Down"')
    assert incidents.get(rbot.deps.store, "INC-1").severity is expected


def test_severity_changes_and_hotfixes_take_the_same_words(
    rbot: RunningBot, world: GitWorld
) -> None:
    room = war_room(rbot, DECLARE)
    assert incidents.get(rbot.deps.store, "INC-1").severity is Severity.SEV1
    reply = command(rbot, "incident severity high", channel_id=room)
    assert reply["text"] == "INC-1 is now SEV2."
    reply = command(rbot, "incident severity SEV1", channel_id=room)
    assert reply["text"] == "INC-1 is now SEV1."
    reply = command(rbot, "create --issue=PROD-2847 --severity=SEV1", channel_id=room)
    assert reply["text"].startswith("Hotfix branch hotfix/PROD-2847 created"), reply
    # The branch's first commit carries the canonical label, as finish's tag does.
    (created,) = events(rbot, "hotfix_created")
    assert created.data["severity"] == "SEV1"


@pytest.mark.parametrize("typed", ["severe", "sev4", HOSTILE])
def test_an_unknown_severity_is_answered_with_the_vocabulary(rbot: RunningBot, typed: str) -> None:
    for text in (
        f"incident create --severity='{typed}' --title=x",
        f"create --issue=PROD-2847 --severity='{typed}'",
    ):
        reply = command(rbot, text)
        assert reply["response_type"] == "ephemeral"
        answer = shown(reply)
        assert "is not a severity" in answer, answer
        assert "critical (SEV1), high (SEV2), medium or low (SEV3)" in answer
        assert "<!channel>" not in str(reply)  # escaped: it pings nobody
    assert rbot.deps.store.query("SELECT id FROM incidents") == []


# ------------------------------------------------------------------ deploy: what is inferred


def test_deploy_in_the_war_room_infers_service_and_version_from_the_hotfix(
    make_bot: BotFactory, world: GitWorld, target: DeployTarget
) -> None:
    bot = make_bot(other_service=True)  # two services: the hotfix's one is chosen
    room = war_room(bot, DECLARE)
    finished_hotfix(bot, world, room)
    reply = command(
        bot, "deploy --target=production --verify --notify-stakeholders", channel_id=room
    )
    assert reply["text"] == "DEP-1 requested: waiting for 2 approval(s).", reply
    deployment = deployments.get(bot.deps.store, "DEP-1")
    assert (deployment.service, deployment.version) == ("payments", "v2.1.1")
    assert deployment.verify and deployment.notify_stakeholders
    text = card_text(bot, "DEP-1")
    assert "DEP-1: payments v2.1.1 → production" in text
    assert "service payments — from hotfix PROD-2847 of INC-1" in text
    assert "version v2.1.1 — inferred from hotfix PROD-2847's finish" in text
    (requested,) = events(bot, "deploy_requested")
    assert requested.data["inferred"] == [
        "service payments — from hotfix PROD-2847 of INC-1",
        "version v2.1.1 — inferred from hotfix PROD-2847's finish",
    ]
    assert target.calls() == []


def test_deploy_outside_an_incident_takes_the_only_service_and_asks_for_the_version(
    rbot: RunningBot,
) -> None:
    reply = command(rbot, "deploy --target=production")
    answer = shown(reply)
    assert "Which version? Outside an incident's war room there is no hotfix" in answer
    assert "--service=payments --version=v…" in answer
    reply = command(rbot, "deploy --target=production --version=v2.1.0")
    assert reply["text"].startswith("DEP-1 requested"), reply
    assert "service payments — the only configured service" in card_text(rbot, "DEP-1")


def test_verify_is_the_default_and_no_verify_turns_it_off(
    rbot: RunningBot, target: DeployTarget
) -> None:
    command(rbot, "deploy --target=production --version=v2.1.0 --verify")
    command(rbot, "cancel DEP-1")
    command(rbot, "deploy --target=production --version=v2.1.0 --no-verify")
    assert deployments.get(rbot.deps.store, "DEP-1").verify is True
    assert deployments.get(rbot.deps.store, "DEP-2").verify is False
    click(rbot, "hotfix_deploy_approve", "DEP-2", "U0BOB")
    click(rbot, "hotfix_deploy_approve", "DEP-2", "U0CAROL")
    steps = {s["step"]: s["detail"] for s in deployments.steps(rbot.deps.store, "DEP-2")}
    assert steps["verify"] == "skipped (--no-verify)", steps
    assert deployments.get(rbot.deps.store, "DEP-2").state is State.SUCCEEDED


def test_deploy_with_several_services_and_no_hotfix_lists_them(make_bot: BotFactory) -> None:
    bot = make_bot(other_service=True)
    answer = shown(command(bot, "deploy --target=production --version=v2.1.0"))
    assert "Which service? Several are configured: orders, payments." in answer
    assert "Add --service=<name>" in answer
    assert deployment_count(bot) == 0


def test_deploy_before_the_hotfix_is_finished_says_to_finish_it(
    rbot: RunningBot, world: GitWorld
) -> None:
    room = war_room(rbot, DECLARE)
    command(rbot, CREATE, channel_id=room)
    answer = shown(command(rbot, "deploy --target=production", channel_id=room))
    assert "Hotfix PROD-2847 is not finished yet: it has no version to deploy." in answer
    assert "/hotfix finish --issue=PROD-2847" in answer
    assert deployment_count(rbot) == 0


# ------------------------------------------------------------------ a version that does not exist


@pytest.mark.parametrize("repository_kind", ["work tree", "remote URL"])
def test_a_version_with_no_tag_is_refused_before_anyone_is_asked(
    make_bot: BotFactory, world: GitWorld, slack: SlackEmulator, repository_kind: str
) -> None:
    git_settings = (
        world.settings(repository=str(world.origin)).model_dump(mode="json")
        if repository_kind == "remote URL"
        else None
    )
    bot = make_bot(git=git_settings)
    room = war_room(bot, DECLARE)
    posts_before = len(slack.calls_to("chat.postMessage"))
    reply = command(bot, "deploy --target=production --version=v9.9.9", channel_id=room)
    answer = shown(reply)
    assert reply["response_type"] == "ephemeral"
    assert "payments has no version v9.9.9: its repository has no such tag." in answer
    assert "The latest tags: v3.0.0-rc.1, v2.2.0-rc.1, v2.1.0, v2.0.0." in answer, answer
    assert deployment_count(bot) == 0
    assert len(slack.calls_to("chat.postMessage")) == posts_before  # no card, no approval asked
    assert events(bot, "deploy_requested") == []
    # A tag pushed since is found (read from the remote, not a stale clone).
    git(world.dev, "tag", "v9.9.9", "origin/production")
    git(world.dev, "push", "--quiet", "origin", "v9.9.9")
    reply = command(bot, "deploy --target=production --version=v9.9.9", channel_id=room)
    assert reply["text"].startswith("DEP-1 requested"), reply


def test_a_rollback_to_a_version_with_no_tag_is_refused_too(rbot: RunningBot) -> None:
    room = war_room(rbot, DECLARE)
    answer = shown(
        command(
            rbot,
            "rollback --target=production --service=payments --version=v0.0.7",
            channel_id=room,
        )
    )
    assert "payments has no version v0.0.7" in answer
    assert deployment_count(rbot) == 0


# ------------------------------------------------------------------ rollback: what is inferred


def test_rollback_in_the_war_room_takes_the_incidents_last_deployment(
    rbot: RunningBot, world: GitWorld, target: DeployTarget
) -> None:
    room = war_room(rbot, DECLARE)
    finished_hotfix(rbot, world, room)
    command(rbot, "deploy --target=production", channel_id=room)
    click(rbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    click(rbot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    assert target.live == "v2.1.1"
    reply = command(
        rbot, "rollback --version=previous --preserve-data --immediate", channel_id=room
    )
    assert reply["text"] == "DEP-2 needs no approval: started.", reply
    assert target.calls()[-1] == ["rollback", "v2.1.0", "production"]
    rollback = deployments.get(rbot.deps.store, "DEP-2")
    assert rollback.state is State.ROLLED_BACK
    assert rollback.detail["preserve_data"] is True
    text = card_text(rbot, "DEP-2")
    assert "target production — from DEP-1, INC-1's last deployment" in text
    assert "code only (--preserve-data): no down-migration runs" in text
    (requested,) = events(rbot, "rollback_requested")
    assert requested.data["preserve_data"] is True
    assert requested.data["inferred"] == [
        "target production — from DEP-1, INC-1's last deployment",
        "service payments — from DEP-1, INC-1's last deployment",
    ]


def test_rollback_infers_from_what_ran_not_from_a_withdrawn_request(
    make_bot: BotFactory, world: GitWorld, target: DeployTarget
) -> None:
    bot = make_bot(other_service=True)
    room = war_room(bot, DECLARE)
    finished_hotfix(bot, world, room)
    command(bot, "deploy --target=production", channel_id=room)  # DEP-1: payments v2.1.1
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    command(bot, "deploy --target=production --service=orders --version=v9", channel_id=room)
    command(bot, "cancel DEP-2", channel_id=room)  # never ran
    reply = command(bot, "rollback --immediate", channel_id=room)
    assert reply["text"] == "DEP-3 needs no approval: started.", reply
    rollback = deployments.get(bot.deps.store, "DEP-3")
    assert (rollback.service, rollback.version) == ("payments", "v2.1.0")
    assert "service payments — from DEP-1, INC-1's last deployment" in card_text(bot, "DEP-3")


def test_rollback_with_nothing_to_infer_from_names_the_flags(rbot: RunningBot) -> None:
    answer = shown(command(rbot, "rollback --version=previous --immediate"))
    assert "Outside an incident's war room there is no deployment to roll back" in answer
    assert "--target=<environment> --service=<name>" in answer
    room = war_room(rbot, DECLARE)
    answer = shown(command(rbot, "rollback --immediate --service=payments", channel_id=room))
    assert "INC-1 has no deployment to roll back on payments." in answer
    assert "/hotfix rollback --target=<environment>" in answer
    assert deployment_count(rbot) == 0


# ------------------------------------------------------------------ --broadcast with nowhere to go


def test_broadcast_without_an_announcement_channel_says_where_it_went(
    make_bot: BotFactory, slack: SlackEmulator
) -> None:
    bot = make_bot(announce=False)
    room = war_room(bot, DECLARE_SEV1)
    reply = command(
        bot,
        'incident update --status=investigating --eta="15 minutes" --broadcast',
        channel_id=room,
    )
    answer = shown(reply)
    assert "Update posted for INC-1." in answer
    assert "The broadcast went nowhere: no announcement channel is configured." in answer
    assert "`incidents.announcement_channel`" in answer
    posted = [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("reply_broadcast")]
    assert posted == []
    (update,) = events(bot, "status_update")
    assert update.data["broadcast"] is True


def test_broadcast_with_an_announcement_goes_to_the_channel_and_says_nothing_more(
    rbot: RunningBot, slack: SlackEmulator
) -> None:
    room = war_room(rbot, DECLARE_SEV1)
    reply = command(
        rbot,
        'incident update --status=investigating --eta="15 minutes" --broadcast',
        channel_id=room,
    )
    assert "went nowhere" not in shown(reply)
    (broadcast,) = [
        c.args for c in slack.calls_to("chat.postMessage") if c.args.get("reply_broadcast")
    ]
    assert broadcast["channel"] == ANNOUNCE


# ------------------------------------------------------------------ hostile input


@pytest.mark.parametrize(
    "text",
    [
        f"deploy --target='{HOSTILE}'",
        f"deploy --target=production --service='{HOSTILE}'",
        f"deploy --target=production --version='{HOSTILE}'",
        f"rollback --target='{HOSTILE}' --immediate",
        f"rollback --service='{HOSTILE}' --version='{HOSTILE}'",
    ],
)
def test_hostile_flags_get_an_answer_and_change_nothing(
    rbot: RunningBot, world: GitWorld, target: DeployTarget, text: str
) -> None:
    room = war_room(rbot, DECLARE)
    finished_hotfix(rbot, world, room)
    reply = command(rbot, text, channel_id=room)
    assert reply["response_type"] == "ephemeral"
    assert "<!channel>" not in str(reply)  # escaped: it pings nobody
    assert len(str(reply)) < 20_000  # cut, not echoed whole
    assert deployment_count(rbot) == 0
    assert target.calls() == []


def test_notify_stakeholders_with_no_announcement_says_it_will_go_nowhere(
    make_bot: BotFactory, world: GitWorld
) -> None:
    bot = make_bot(announce=False)
    outside = shown(
        command(bot, "deploy --target=production --version=v2.1.0 --notify-stakeholders")
    )
    assert "DEP-1 requested" in outside
    assert "--notify-stakeholders goes nowhere outside an incident" in outside
    command(bot, "cancel DEP-1")
    room = war_room(bot, DECLARE_SEV1)
    finished_hotfix(bot, world, room)
    answer = shown(
        command(bot, "deploy --target=production --notify-stakeholders", channel_id=room)
    )
    assert "DEP-2 requested" in answer
    assert (
        "--notify-stakeholders will go nowhere: no announcement channel is configured."
        " Set `incidents.announcement_channel`"
    ) in answer
    quiet = shown(command(bot, "cancel DEP-2", channel_id=room))
    assert "go nowhere" not in quiet


def test_a_remote_that_cannot_be_read_is_said_on_the_card_and_blocks_nothing(
    make_bot: BotFactory, world: GitWorld, tmp_path: Path
) -> None:
    gone = world.settings(repository=str(tmp_path / "gone.git")).model_dump(mode="json")
    bot = make_bot(git=gone)
    reply = command(bot, "deploy --target=production --service=payments --version=v2.1.0")
    assert reply["text"] == "DEP-1 requested: waiting for 2 approval(s).", reply
    text = card_text(bot, "DEP-1")
    assert "version v2.1.0 not checked against the repository: git command failed" in text
    assert (
        deployments.get(bot.deps.store, "DEP-1")
        .detail["version_check"]
        .startswith("version v2.1.0 not checked")
    )
