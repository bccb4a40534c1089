"""Starting the engine after a decision, and the answers about deployments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from handlers.console.chat import CHANNEL_PREFIX, TERMINAL_CHANNEL
from handlers.core.context import CommandEnv
from handlers.core.guard import audit
from handlers.core.replies import Reply
from services.audit import Outcome
from services.deploy import approvals, card, deployments, engine, home
from services.deploy.approvals import Decision, DeployRequest
from services.deploy.model import Deployment
from services.logcontext import bound


def home_channel(env: CommandEnv, channel: str | None) -> str | None:
    """Where a request's card lives (an incident's war room comes first, in requests).

    Asked in Slack or in a console war room: there. Asked from a terminal outside any war
    room (the CLI has no channel, the console its own): the configured deployments channel
    (the terminal relays it to the serving bot), else the terminal itself.
    """
    if env.invocation.source == "slack" or (channel and channel != TERMINAL_CHANNEL):
        return channel
    return env.deps.settings.deployments_channel or channel


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
    env: CommandEnv,
    deployment: Deployment,
    text: str,
    problems: list[str],
    *,
    cancel_button: bool = False,
) -> Reply:
    data = card.card_data(env.deps.store, deployment, clock=env.deps.clock)
    # The card lives elsewhere (a war room, the deployments channel, a DM): say where.
    card_home = deployment.channel_id if deployment.card_ts else None
    if card_home == env.invocation.channel_id or (card_home or "").startswith(CHANNEL_PREFIX):
        card_home = None
    return Reply(
        "deploy_ack",
        {
            **data,
            "text": text,
            "problems": problems,
            "cancel_button": cancel_button,
            "card_home": card_home,
            # A DM home is the requester's: an approver is told whose it is.
            "card_home_is_yours": deployment.requested_by == env.invocation.actor,
        },
    )


def submit(
    env: CommandEnv,
    req: DeployRequest,
    *,
    waiting: str | None = None,
    problems: list[str] | None = None,
) -> Reply:
    """Record a request; start it when it needs no approval. `waiting`: the answer while it
    waits ({id} and {approvals} filled in); `problems`: warnings for the requester."""
    deps = env.deps.deploy
    req = replace(req, channel_id=home_channel(env, req.channel_id))
    deployment, created, problem = approvals.request(deps, req)
    if not created:
        return deployment_reply(env, deployment, "This request was already made.", [])
    if deployment.card_ts is None and deployment.channel_id and env.invocation.source == "slack":
        # Slack refused the card where it was asked (the bot is not in that channel).
        problem = home.rehome_card(
            deps.store,
            deployment,
            clock=deps.clock,
            chat=deps.chat,
            deployments_channel=env.deps.settings.deployments_channel,
        )
        deployment = deployments.get(deps.store, deployment.id)
    if deployment.break_glass:
        audit(
            env,
            f"deploy:{deployment.id}",
            Outcome.OK,
            f"BREAK-GLASS: {deployment.approvals_required} approval(s)",
        )
    problems = [*(problems or []), *([problem] if problem else [])]
    if deployment.approvals_required == 0:
        decision = approvals.approve_without_gate(deps, deployment, actor=env.invocation.actor)
        after_decision(env, decision)
        return deployment_reply(
            env, decision.deployment, f"{deployment.id} needs no approval: started.", problems
        )
    text = (waiting or "{id} requested: waiting for {approvals} approval(s).").format(
        id=deployment.id, approvals=deployment.approvals_required
    )
    # Only the requester sees this answer: it carries their Cancel button.
    return deployment_reply(env, deployment, text, problems, cancel_button=True)
