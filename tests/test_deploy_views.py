"""/hotfix deploy list and /hotfix deploy status DEP-n, in Slack, with the command backend."""

from __future__ import annotations

from typing import Any

import pytest

from services.deploy import deployments
from services.deploy.model import State
from tests import test_deploy_command as base
from tests.harness.bot_actions import click, command, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot
from tests.test_deploy_command import DEPLOY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The deploy tests' fixtures: a bot with a command-backend target.
dbot = base.dbot

STAGING = "deploy --target=staging --service=payments --version=v2.1.{n}"


def ask(bot: RunningBot, text: str) -> dict[str, Any]:
    """A command answered inside Slack's 3 s window: the reply is the HTTP response."""
    result = bot.driver.slash(text)
    assert result.status == 200 and isinstance(result.json, dict), result.body
    return result.json


def shown(reply: dict[str, Any]) -> str:
    """Everything a person reads in a reply: its sections and context lines."""
    parts = []
    for block in reply.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def test_list_shows_deployments_inside_and_outside_incidents_with_filters(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)  # DEP-1, in INC-1, waits for approval
    command(dbot, STAGING.format(n=5))  # DEP-2, outside any incident
    click(dbot, "hotfix_deploy_reject", "DEP-2", "U0BOB")

    everything = shown(ask(dbot, "deploy list"))
    assert everything.index("DEP-2: payments v2.1.5 → staging") < everything.index(
        "DEP-1: payments v2.1.1 → production"
    )  # newest first
    assert "Rejected" in everything and "no incident" in everything and "INC-1" in everything

    staging = shown(ask(dbot, "deploy list --target=staging"))
    assert "DEP-2" in staging and "DEP-1" not in staging
    active = shown(ask(dbot, "deploy list --state=active"))
    assert "DEP-1" in active and "DEP-2" not in active
    none = shown(ask(dbot, "deploy list --service=search"))
    assert "No deployments match these filters." in none


def test_list_pages_with_before(dbot: RunningBot, target: DeployTarget) -> None:
    for n in range(1, 5):
        command(dbot, STAGING.format(n=n))
        click(dbot, "hotfix_deploy_reject", f"DEP-{n}", "U0BOB")
    first = shown(ask(dbot, "deploy list --limit 2"))
    assert "DEP-4" in first and "DEP-3" in first and "DEP-2" not in first
    assert "Older: `/hotfix deploy list --before=DEP-3`" in first
    second = shown(ask(dbot, "deploy list --limit 2 --before=DEP-3"))
    assert "DEP-2" in second and "DEP-1" in second and "DEP-3" not in second
    assert "Older:" not in second
    bad = ask(dbot, "deploy list --before=yesterday")
    assert "give a deployment id such as DEP-12." in bad["text"] + shown(bad)


def test_status_is_the_cards_content_with_what_can_be_done_now(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    waiting = shown(ask(dbot, "deploy status DEP-1"))
    assert "DEP-1: payments v2.1.1 → production" in waiting
    assert "*State:* Requested" in waiting and "*Running now:* v2.1.0" in waiting
    assert "*Approvals:* 0 of 2" in waiting
    assert (
        "Now: `/hotfix approve DEP-1` · `/hotfix reject DEP-1` · `/hotfix cancel DEP-1`" in waiting
    )
    assert f"the card is in <#{room}>" in waiting

    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    assert deployments.get(dbot.deps.store, "DEP-1").state is State.SUCCEEDED
    done = shown(ask(dbot, "deploy status dep-1"))
    assert "*State:* Succeeded" in done and "*Approvals:* 2 of 2: <@U0BOB>, <@U0CAROL>" in done
    assert ":white_check_mark: deploy" in done and ":white_check_mark: verify" in done
    assert "Now: `/hotfix deploy rollback DEP-1`" in done


def test_status_of_an_unknown_or_hostile_id_says_what_to_do(dbot: RunningBot) -> None:
    unknown = ask(dbot, "deploy status DEP-99")
    assert "There is no deployment DEP-99." in unknown["text"]
    assert "`deploy list` shows the deployments and their ids." in shown(unknown)
    hostile = "<!channel>\u202e" + "A" * 10_000
    refused = ask(dbot, f'deploy status "{hostile}"')
    assert "That is not a deployment id." in refused["text"]
    assert "<!channel>" not in refused["text"] and "A" * 100 not in shown(refused)


def test_list_filters_with_hostile_text_are_shown_escaped(dbot: RunningBot) -> None:
    hostile = "<!channel> <@U1>\u202e" + "A" * 10_000
    reply = ask(dbot, f'deploy list --service="{hostile}" --target=production')
    text = shown(reply)
    assert "No deployments match these filters." in text
    assert "<!channel>" not in text and "<@U1>" not in text
    assert "&lt;!channel&gt;" in text  # shown as typed, never a ping
    assert len(reply["blocks"]) <= 50 and "A" * 3001 not in text
