"""Who is in the war room: checking a person named, the severity's responders, invitations."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from services import timeline
from services.chat import Chat, ChatError
from services.chat_markup import ChatMarkup
from services.errors import UserFacingError
from services.incidents.model import Incident, Severity

if TYPE_CHECKING:
    from services.incidents.war_room import FlowReport, WarRoomDeps

log = logging.getLogger(__name__)


def is_slack_user(actor: str | None) -> bool:
    return bool(actor) and re.fullmatch(r"[UW][A-Z0-9]{2,}", actor or "") is not None


def require_member(user_id: str, *, chat: Chat) -> None:
    """Refuse a person who is not (or no longer) in the workspace, before anything changes."""
    if not is_slack_user(user_id):
        return
    try:
        name = chat.user_name(user_id)
    except ChatError as exc:
        if not exc.retryable:
            raise
        log.warning("could not check %s (%s): Slack is unavailable", user_id, exc.error)
        return  # the declaration must not wait for Slack; invites report a wrong person
    if name is None:
        raise UserFacingError(
            f"{user_id} is not a member of this workspace.",
            hint="Mention someone from the people list: type @ and pick them.",
        )


def responders_for(severity: Severity, *, deps: WarRoomDeps, report: FlowReport) -> list[str]:
    """Configured responders, with user groups expanded to their members."""
    people: list[str] = []
    for target in deps.settings.policy(severity.value).responders:
        if target.startswith("S"):
            try:
                people += deps.chat.usergroup_members(target)
            except ChatError as exc:
                report.problems.append(f"Could not read user group {target}: {exc.error}")
        else:
            people.append(target)
    return people


def invite_people(
    incident: Incident, people: list[str], *, deps: WarRoomDeps, report: FlowReport
) -> None:
    wanted = list(dict.fromkeys(p for p in people if is_slack_user(p)))
    if not wanted or incident.channel_id is None:
        return
    for failure in deps.chat.invite(incident.channel_id, wanted):
        report.incomplete = report.incomplete or failure.retryable
        if failure.error != "already_in_channel":
            # The bot's own markup (a checked user id, Slack's error code): not escaped.
            problem = f"Could not invite <@{failure.user_id}>: `{failure.error}`"
            report.problems.append(ChatMarkup(problem))


def invite_responders(
    incident: Incident, deps: WarRoomDeps, actor: str, report: FlowReport
) -> None:
    people = [actor, incident.declared_by]
    if incident.commander:
        people.append(incident.commander)
    before = len(report.problems)
    people += responders_for(incident.severity, deps=deps, report=report)
    invite_people(incident, people, deps=deps, report=report)
    failures = report.problems[before:]
    if failures:
        timeline.append(
            deps.store,
            clock=deps.clock,
            incident_id=incident.id,
            actor=timeline.BOT_ACTOR,
            kind="step_failed",
            text="Some people could not be invited to the war room",
            data={"step": "invite", "problems": failures},
        )
