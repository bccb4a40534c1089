"""Where a deployment's card lives when the channel it was asked in cannot hold it.

A slash command works in any channel, including channels the bot is not in (Slack then
refuses the card: `not_in_channel`, `channel_not_found`). The card then goes to the
configured deployments channel, else to the requester's direct messages with the bot,
so the requester (and whoever steers it) sees it; every later edit and thread reply
follows it there (they use the deployment's recorded channel).
"""

from __future__ import annotations

from services.access import is_terminal_actor
from services.chat import Chat, ChatError, Message
from services.clock import Clock
from services.deploy import card, deployments
from services.deploy.model import Deployment
from services.store import Store


def rehome_card(
    store: Store,
    deployment: Deployment,
    *,
    clock: Clock,
    chat: Chat,
    deployments_channel: str | None,
) -> str | None:
    """Post the card elsewhere (a card posted already stays); returns a problem, or None."""
    if deployment.card_ts is not None:
        return None
    if deployments_channel and deployments_channel != deployment.channel_id:
        return card.post_or_update(
            store, deployment, clock=clock, chat=chat, channel=deployments_channel
        )
    if is_terminal_actor(deployment.requested_by):
        return None  # the terminal follows it (console: printed, CLI: followed)
    message = Message(
        "deploy_card", card.card_data(store, deployment, clock=clock), key=f"{deployment.id}:card"
    )
    try:
        posted = chat.direct_message(deployment.requested_by, message)
    except ChatError as exc:
        return f"Could not send you the deployment card: `{exc.error}`"
    deployments.set_card(store, deployment.id, channel_id=posted.channel_id, ts=posted.ts)
    return None
