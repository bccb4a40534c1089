"""Starting the engine after a decision, and the answers about deployments."""

from __future__ import annotations

from handlers.context import CommandEnv
from handlers.replies import Reply
from services.deploy import card, engine
from services.deploy.model import Deployment
from services.deploy.requests import Decision


def after_decision(env: CommandEnv, decision: Decision) -> None:
    """Refresh the card; if this decision approved the request, run it on a long-job thread."""
    deps = env.deps.deploy
    card.post_or_update(
        deps.store,
        decision.deployment,
        clock=deps.clock,
        chat=deps.chat,
        channel=decision.deployment.channel_id,
    )
    if decision.approved_now:
        deployment_id = decision.deployment.id
        env.deps.worker.submit(
            lambda: engine.start(deps, deployment_id), describe=f"deploy {deployment_id}", long=True
        )


def deployment_reply(
    env: CommandEnv, deployment: Deployment, text: str, problems: list[str]
) -> Reply:
    data = card.card_data(env.deps.store, deployment, clock=env.deps.clock)
    return Reply("deploy_ack", {**data, "text": text, "problems": problems})
