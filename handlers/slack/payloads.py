"""Who and where, from the shapes Slack sends."""

from __future__ import annotations

from typing import Any

from handlers.core.context import Invocation

# Set by the recovery on a payload it runs again from the command journal (never by Slack:
# requests are signed, and Slack builds their fields).
REPLAYED = "hotfix_bot_replayed"


def from_command(command: dict[str, Any]) -> Invocation:
    return Invocation(
        actor=str(command.get("user_id", "")),
        source="slack",
        channel_id=command.get("channel_id"),
        team_id=command.get("team_id"),
        trigger_id=command.get("trigger_id"),
        text=str(command.get("text", "")),
        replayed=bool(command.get(REPLAYED)),
    )


def from_interaction(body: dict[str, Any]) -> Invocation:
    user = body.get("user") or {}
    team = body.get("team") or {}
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    return Invocation(
        actor=str(user.get("id", "")),
        source="slack",
        channel_id=channel.get("id") or container.get("channel_id"),
        team_id=team.get("id") or user.get("team_id"),
        trigger_id=body.get("trigger_id"),
        replayed=bool(body.get(REPLAYED)),
    )
