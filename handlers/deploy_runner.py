"""Starting the engine after a decision, and the answers about deployments."""

from __future__ import annotations

from collections.abc import Callable

from handlers.context import CommandEnv
from handlers.replies import Reply
from services.deploy import card, engine
from services.deploy.model import Deployment
from services.deploy.requests import Decision
from services.logcontext import bound


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
        deployment = decision.deployment
        env.deps.worker.submit(
            lambda: run_logged(deployment, lambda: engine.start(deps, deployment.id)),
            describe=f"deploy {deployment.id}",
            long=True,
        )


def run_logged(deployment: Deployment, job: Callable[[], None]) -> None:
    """Run an engine job with the deployment's and incident's ids on every log line."""
    with bound(deployment_id=deployment.id, incident_id=deployment.incident_id):
        job()


def deployment_reply(
    env: CommandEnv, deployment: Deployment, text: str, problems: list[str]
) -> Reply:
    data = card.card_data(env.deps.store, deployment, clock=env.deps.clock)
    return Reply("deploy_ack", {**data, "text": text, "problems": problems})
