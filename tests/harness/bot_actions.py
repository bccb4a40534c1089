"""What a person does to a running bot through Slack, and what they then see: the
end-to-end steps many test modules share (a slash command, declaring an incident, pressing
a deployment card's button, reading the card and the timeline).

Each step goes through the signed-request driver and waits on the Slack emulator, as in
production; "settle" waits for the bot's worker to finish what the step started.
"""

from __future__ import annotations

from typing import Any

from services import timeline
from services.deploy import deployments
from services.incidents import records
from services.incidents.model import Incident
from tests.harness.running_bot import RunningBot

DECLARE = 'incident create --severity=sev1 --title="Payments failing"'
REPLY_SECONDS = 60  # a slash command's or a click's answer on its response_url
SETTLE_SECONDS = 60  # the bot's worker finishing what a step started (a canary walk, say)


def command(bot: RunningBot, text: str, *, settle: bool = True, **options: str) -> dict[str, Any]:
    """Run ``/hotfix <text>`` (``options``: the driver's channel_id, user_id, …) and return
    its answer: the acknowledgement, or the response_url post when the acknowledgement only
    says "Working on …" (a command the bot runs on its worker)."""
    sent = bot.driver.slash(text, **options)
    assert sent.status == 200, sent.body
    ack = sent.json or {}
    if str(ack.get("text", "")).startswith("Working on"):
        assert sent.response_id is not None
        (reply,) = bot.slack.wait_for_response(sent.response_id, timeout=REPLY_SECONDS)
        ack = reply
    if settle:
        bot.settle(timeout=SETTLE_SECONDS)
    return dict(ack)


def declare(bot: RunningBot, text: str = DECLARE, **options: str) -> Incident:
    """Declare an incident with ``incident create …``; returns the incident (its war room may
    still be missing when Slack refused it)."""
    command(bot, text, **options)
    return _newest(bot)


def war_room(bot: RunningBot, text: str = DECLARE, **options: str) -> str:
    """Declare an incident and return its war room's channel id."""
    reply = command(bot, text, **options)
    assert "declared" in reply.get("text", ""), reply
    room = _newest(bot).channel_id
    assert room, "the incident has no war room"
    return room


def _newest(bot: RunningBot) -> Incident:
    return max(records.open_incidents(bot.deps.store), key=lambda i: i.number)


def click(
    bot: RunningBot, action: str, deployment_id: str, user: str, *, settle: bool = True
) -> dict[str, Any]:
    """Press a button of the deployment's card as ``user``, as Slack sends it; returns the
    answer posted to the click's response_url."""
    deployment = deployments.get(bot.deps.store, deployment_id)
    sent = bot.driver.block_action(
        action,
        value=deployment_id,
        user_id=user,
        channel_id=deployment.channel_id or "C0GENERAL",
        message_ts=deployment.card_ts,
    )
    (reply,) = bot.slack.wait_for_response(sent.response_id, timeout=REPLY_SECONDS)
    if settle:
        bot.settle(timeout=SETTLE_SECONDS)
    return dict(reply)


def card(bot: RunningBot, deployment_id: str = "DEP-1") -> dict[str, Any]:
    """The deployment's card as the channel shows it now."""
    deployment = deployments.get(bot.deps.store, deployment_id)
    assert deployment.channel_id and deployment.card_ts, f"{deployment_id} has no card"
    message = bot.slack.message(deployment.channel_id, deployment.card_ts)
    assert message is not None, f"{deployment_id}'s card is gone"
    return message


def card_text(bot: RunningBot, deployment_id: str = "DEP-1") -> str:
    """The text the card shows: its sections' text and fields, its context lines."""
    parts = []
    for block in card(bot, deployment_id)["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        parts += [
            e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)
        ]
    return "\n".join(parts)


def card_buttons(bot: RunningBot, deployment_id: str = "DEP-1") -> list[str]:
    """The action_ids of the card's buttons, in order."""
    return [
        e["action_id"]
        for b in card(bot, deployment_id)["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def events(
    bot: RunningBot, kind: str | None = None, incident_id: str | None = "INC-1"
) -> list[timeline.TimelineEvent]:
    """The incident's timeline (``kind``: only those events), oldest first."""
    found = timeline.events(bot.deps.store, incident_id=incident_id)
    return [e for e in found if kind is None or e.kind == kind]


def kinds(bot: RunningBot, incident_id: str | None = "INC-1") -> list[str]:
    """The kinds of the incident's timeline events, oldest first."""
    return [e.kind for e in events(bot, incident_id=incident_id)]
