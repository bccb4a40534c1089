"""A pipeline run's card (validate or verify): posted once where the run lives, then edited.

Like the deployment card (services.deploy.card.post_or_update): the first call posts and
stores the ts on the run, later calls chat.update that ts (a placeholder ts from the outbox
is replaced by the real one when the post goes out). A failed Slack call is reported and
never stops the run: the record and the timeline have its outcome.
"""

from __future__ import annotations

import logging

from services.chat import Chat, ChatError, Message
from services.pipeline import records
from services.pipeline.records import PipelineRun, RunState
from services.store import Store

log = logging.getLogger(__name__)


def show(store: Store, chat: Chat, run: PipelineRun, message: Message) -> str | None:
    """Post `message` as the run's card the first time, edit it afterwards; returns a
    problem to tell the requester, or None. `run` must be fresh (its card ts read now)."""
    if run.channel_id is None:
        return _tell_requester(store, chat, run, message)
    try:
        if run.card_ts:
            chat.update(run.channel_id, run.card_ts, message)
        else:
            posted = chat.post(run.channel_id, message)
            records.set_card(store, run.id, channel_id=posted.channel_id, card_ts=posted.ts)
    except ChatError as exc:
        log.warning("%s: could not post or update its card: %s", run.id, exc.error)
        return f"Could not post or update the {run.kind.value} card of {run.id}: `{exc.error}`"
    return None


def _tell_requester(store: Store, chat: Chat, run: PipelineRun, message: Message) -> str | None:
    """No channel (`hotfix-bot validate …` at a terminal): nobody watches a card, so the
    requester gets the finished card once, directly (as a deployment's outcome)."""
    if run.state is RunState.RUNNING or run.detail.get("outcome_told"):
        return None
    try:
        chat.direct_message(run.requested_by, message)
    except ChatError as exc:
        log.warning("%s: could not tell %s the outcome: %s", run.id, run.requested_by, exc.error)
        return f"Could not send the outcome of {run.id}: `{exc.error}`"
    records.merge_detail(store, run.id, outcome_told=True)
    return None
