"""Buttons on a running canary's card: Promote, Pause, Resume, Abort.

Checked on every click (deployers and the environment's approvers only; a refusal is
audited by the action guard). Each click sets a flag in the deployment's row - a
compare-and-set, so double clicks and Slack retries change nothing twice - and goes on
the timeline; the canary loop reads the flags at every poll.
"""

from __future__ import annotations

from handlers.core.buttons import Button, ButtonPress
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.deploy.runner import deployment_reply
from services.deploy import card, controls, deployments
from services.deploy.controls import Command
from services.deploy.engine import environment_of

WHAT: dict[Command, str] = {
    "promote": "promote a canary",
    "pause": "pause a canary",
    "resume": "resume a canary",
    "abort": "abort a canary",
}


def _operate(env: CommandEnv, press: ButtonPress, command: Command) -> Reply:
    deps = env.deps
    deployment = deployments.get(deps.store, press.value)
    controls.require_operator(
        env.invocation.actor,
        access=deps.settings.access,
        approvers=list(environment_of(deps.settings, deployment).approvers),
        chat=deps.chat,
        what=WHAT[command],
    )
    answer = controls.operate(
        deps.store,
        clock=deps.clock,
        deployment=deployment,
        actor=env.invocation.actor,
        command=command,
    )
    updated = deployments.get(deps.store, deployment.id)
    card.post_or_update(
        deps.store, updated, clock=deps.clock, chat=deps.chat, channel=updated.channel_id
    )
    return deployment_reply(env, updated, answer, [])


def promote(env: CommandEnv, press: ButtonPress) -> Reply:
    return _operate(env, press, "promote")


def pause(env: CommandEnv, press: ButtonPress) -> Reply:
    return _operate(env, press, "pause")


def resume(env: CommandEnv, press: ButtonPress) -> Reply:
    return _operate(env, press, "resume")


def abort(env: CommandEnv, press: ButtonPress) -> Reply:
    return _operate(env, press, "abort")


BUTTONS = (
    Button("hotfix_canary_promote", promote),
    Button("hotfix_canary_pause", pause),
    Button("hotfix_canary_resume", resume),
    Button("hotfix_canary_abort", abort),
)
