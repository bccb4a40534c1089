"""The runbook, as written, end to end: in a Slack war room and again in the console.

declare → /hotfix create --issue=PROD-2847 --severity=critical --from=production → finish →
deploy --target=production --verify --notify-stakeholders → approve → incident update
--status=investigating --eta="15 minutes" --broadcast → rollback --version=previous
--preserve-data --immediate → resolve → postmortem.

Real parts: a bare git origin the developer pushes the fix to, a command-backend target whose
scripts log their argv, the bot in HTTP mode against the Slack emulator (buttons clicked as
signed requests), and `hotfix-bot console` as a subprocess on the same kind of world.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services import timeline
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from services.incidents import records as incidents
from services.incidents.model import Severity, Status
from services.store import Store
from tests.harness.bot_actions import card_text, click, command
from tests.harness.cli import run_cli
from tests.harness.deploy_target import DeployTarget
from tests.harness.git_repos import GitWorld, git
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]

ANNOUNCE = "C0INCIDENTS"
TITLE = "Payment Gateway Down"
ROOM = "inc-1-payment-gateway-down"
BRANCH = "hotfix/PROD-2847"
RUNBOOK = [
    f'incident create --severity=critical --title="{TITLE}"',
    "create --issue=PROD-2847 --severity=critical --from=production",
    # (the developer pushes the fix to the hotfix branch here)
    "finish",
    "deploy --target=production --verify --notify-stakeholders",
    # (two approvers approve DEP-1 here)
    'incident update --status=investigating --eta="15 minutes" --broadcast',
    "rollback --version=previous --preserve-data --immediate",
    'incident resolve --root-cause="null pointer in the payment client"'
    ' --action-items="add validation; add an alert"',
    "postmortem",
]
INFERRED = [
    "service payments — from hotfix PROD-2847 of INC-1",
    "version v2.1.1 — inferred from hotfix PROD-2847's finish",
]
ROLLBACK_INFERRED = [
    "target production — from DEP-1, INC-1's last deployment",
    "service payments — from DEP-1, INC-1's last deployment",
]
# What the timeline holds, in order (other rows, such as each step's, may come between).
TIMELINE = [
    "declared",
    "hotfix_created",
    "hotfix_finished",
    "deploy_requested",
    "deploy_approval",
    "deploy_approval",
    "deploy_succeeded",
    "status_update",
    "rollback_requested",
    "deploy_rolled_back",
    "resolved",
]


def services(world: GitWorld, target: DeployTarget) -> dict[str, object]:
    return {
        "payments": {
            "git": world.settings().model_dump(mode="json"),
            "environments": {"production": target.rollback_environment()},
        },
        # A second service: the hotfix says which one the deploy is for.
        "orders": {"environments": {"production": target.rollback_environment()}},
    }


def in_order(found: list[str], expected: list[str]) -> bool:
    it = iter(found)
    return all(kind in it for kind in expected)


def check_the_records(store: Store, world: GitWorld, target: DeployTarget) -> None:
    """What ran, what git holds, what the deployments and the timeline say: the same in
    Slack and in the console."""
    # What ran: the deploy script got the finished tag, the rollback script the previous one.
    assert target.calls() == [
        ["deploy", "v2.1.1"],
        ["rollback", "v2.1.0", "production"],
    ]
    assert target.live == "v2.1.0"
    remote = world.remote_refs()
    assert "refs/tags/v2.1.1" in remote and f"refs/heads/{BRANCH}" not in remote
    tag_message = git(world.origin, "tag", "-l", "--format=%(contents)", "v2.1.1")
    assert "Resolves: PROD-2847" in tag_message and "Severity: SEV1" in tag_message

    incident = incidents.get(store, "INC-1")
    assert (incident.severity, incident.status) == (Severity.SEV1, Status.RESOLVED)
    deploy = deployments.get(store, "DEP-1")
    assert (deploy.service, deploy.version, deploy.state) == (
        "payments",
        "v2.1.1",
        State.SUCCEEDED,
    )
    assert deploy.verify and deploy.notify_stakeholders
    rollback = deployments.get(store, "DEP-2")
    assert (rollback.service, rollback.environment, rollback.version, rollback.state) == (
        "payments",
        "production",
        "v2.1.0",
        State.ROLLED_BACK,
    )

    rows = timeline.events(store, incident_id="INC-1")
    kinds = [e.kind for e in rows]
    assert in_order(kinds, TIMELINE), kinds
    (requested,) = [e for e in rows if e.kind == "deploy_requested"]
    assert requested.data["version"] == "v2.1.1" and requested.data["inferred"] == INFERRED
    (update,) = [e for e in rows if e.kind == "status_update"]
    assert update.data["status"]["new"] == "investigating"
    assert update.data["eta"]["new"] == "15 minutes" and update.data["broadcast"] is True
    (asked,) = [e for e in rows if e.kind == "rollback_requested"]
    assert asked.data["version"] == "v2.1.0" and asked.data["preserve_data"] is True
    assert asked.data["inferred"] == ROLLBACK_INFERRED
    (rolled,) = [e for e in rows if e.kind == "deploy_rolled_back"]
    assert rolled.data["rolled_back_to"] == "v2.1.0"


def check_the_postmortem(markdown: str) -> None:
    assert markdown.startswith(f"# Postmortem: INC-1 — {TITLE}\n")
    assert "| Severity | SEV1 (Critical: a critical service is down for many customers) |" in (
        markdown
    )
    assert "null pointer in the payment client" in markdown
    assert "Hotfix PROD-2847 finished: tagged v2.1.1" in markdown
    deployed = markdown.split("## Deployments during the incident")[1].split("## ")[0]
    assert "- DEP-1: payments v2.1.1 → production, requested by @alice at" in deployed
    assert "- DEP-2: rollback of payments in production to v2.1.0, requested by @alice" in (
        deployed
    )
    assert "rolled back to v2.1.0 at" in deployed, deployed
    assert "- [ ] add validation" in markdown and "- [ ] add an alert" in markdown


# ------------------------------------------------------------------------------------ Slack


def test_the_runbook_as_written_in_a_slack_war_room(
    slack: SlackEmulator,
    world: GitWorld,
    target: DeployTarget,
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id=ANNOUNCE, members=("UBOT", "U0ALICE"))
    bot: RunningBot = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "services": services(world, target),
            "access": {"deployers": ["U0ALICE"]},
            "incidents": {"announcement_channel": ANNOUNCE},
        },
    )
    try:
        declare, create, finish, deploy, update, rollback, resolve, postmortem = RUNBOOK
        assert "INC-1 declared." in command(bot, declare)["text"]
        room = incidents.get(bot.deps.store, "INC-1").channel_id
        announcement_ts = incidents.get(bot.deps.store, "INC-1").announcement_ts
        assert room and announcement_ts

        reply = command(bot, create, channel_id=room)
        assert reply["text"] == f"Hotfix branch {BRANCH} created; next version v2.1.1", reply
        world.fix_on_hotfix(BRANCH)  # the developer pushes the fix
        reply = command(bot, finish, channel_id=room)
        assert reply["text"] == "Hotfix PROD-2847 finished: v2.1.1", reply

        reply = command(bot, deploy, channel_id=room)
        assert reply["text"] == "DEP-1 requested: waiting for 2 approval(s).", reply
        card = card_text(bot, "DEP-1")
        assert "DEP-1: payments v2.1.1 → production" in card
        assert " · ".join(INFERRED) in card
        assert target.calls() == []  # nothing runs before the approvals
        click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
        click(bot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
        assert "Succeeded" in card_text(bot, "DEP-1")
        # --notify-stakeholders: the outcome in the announcement thread.
        thread = slack.thread(ANNOUNCE, announcement_ts)
        assert any("DEP-1" in m["text"] for m in thread[1:]), thread

        reply = command(bot, update, channel_id=room)
        assert reply["text"] == "Update posted for INC-1.", reply
        (broadcast,) = [
            c.args for c in slack.calls_to("chat.postMessage") if c.args.get("reply_broadcast")
        ]
        assert (broadcast["channel"], broadcast["thread_ts"]) == (ANNOUNCE, announcement_ts)
        assert "15 minutes" in str(broadcast["blocks"])

        reply = command(bot, rollback, channel_id=room)
        assert reply["text"] == "DEP-2 needs no approval: started.", reply
        card = card_text(bot, "DEP-2")
        assert "Rollback DEP-2: payments to v2.1.0 → production" in card
        assert "Rolled back to v2.1.0" in card
        assert "code only (--preserve-data): no down-migration runs" in card

        reply = command(bot, resolve, channel_id=room)
        assert reply["text"] == "INC-1 resolved.", reply
        reply = command(bot, postmortem, channel_id=room)
        assert reply["text"] == "Postmortem draft uploaded to the war room.", reply
        (draft,) = slack.files(room)
        check_the_postmortem((slack.file_content(draft["id"]) or b"").decode())

        check_the_records(bot.deps.store, world, target)
        # The deployments' messages went to the war room and the announcement thread only.
        posted = slack.calls_to("chat.postMessage")
        assert {c.args["channel"] for c in posted if "DEP-" in str(c.args)} == {room, ANNOUNCE}
    finally:
        bot.stop()


# ---------------------------------------------------------------------------------- console


def test_the_runbook_as_written_in_the_console(
    world: GitWorld, target: DeployTarget, tmp_path: Path
) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp_path / "console.db")},
                "incidents": {"announcement_channel": ANNOUNCE},
                "access": {"console_is_trusted": True},
                "services": services(world, target),
            }
        )
    )
    room = f"console:#{ROOM}"

    def console(user: str, *lines: str, channel: str | None = None) -> str:
        """One console session (the next starts after the last one's work has finished)."""
        where = ["--channel", channel] if channel else []
        done = run_cli(
            "--config",
            str(config),
            "console",
            "--user",
            user,
            *where,
            cwd=tmp_path,
            stdin="\n".join([*lines, "quit"]) + "\n",
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return done.stdout

    declare, create, finish, deploy, update, rollback, resolve, postmortem = RUNBOOK
    out = console("alice", declare, create)
    assert "INC-1 declared." in out and f"(you are now in #{ROOM}" in out, out
    assert f"Hotfix branch {BRANCH} for payments" in out, out
    assert "Next version: v2.1.0 → v2.1.1" in out, out
    world.fix_on_hotfix(BRANCH)  # the developer pushes the fix
    out = console("alice", finish, deploy, channel=room)
    assert "Hotfix PROD-2847 finished for payments: tagged v2.1.1" in out, out
    assert "DEP-1 requested: waiting for 2 approval(s)." in out, out
    assert " · ".join(INFERRED) in out, out
    assert target.calls() == []
    # Slack is down: the approvers type the card's buttons.
    out = console("bob", "approve DEP-1", channel=room)
    assert "1 of 2 approval(s)" in out, out
    out = console("carol", "approve DEP-1", channel=room)
    assert target.live == "v2.1.1", out
    # --notify-stakeholders: the outcome in the announcement's thread.
    assert f"[{ANNOUNCE} · msg 1] (in thread of msg" in out, out
    out = console("alice", update, rollback, channel=room)
    assert "Update posted for INC-1." in out, out
    assert "went nowhere" not in out
    assert "DEP-2 needs no approval: started." in out, out
    assert "code only (--preserve-data): no down-migration runs" in out, out
    out = console("alice", resolve, postmortem, channel=room)
    assert "INC-1 resolved." in out, out
    assert "Postmortem draft uploaded to the war room." in out, out
    check_the_postmortem(out[out.index(f"# Postmortem: INC-1 — {TITLE}") :])

    store = Store(tmp_path / "console.db")
    try:
        check_the_records(store, world, target)
    finally:
        store.close()
