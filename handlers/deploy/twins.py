"""Keyboard twins of the card's buttons: /hotfix deploy promote|pause|resume|abort|rollback DEP-n.

Each twin calls the button's own handler with the deployment id as the button's value,
so the authorisation checks, the compare-and-set, the timeline entry and the answer
(including "that does not apply now") are the button's. A canary waiting for a decision
can be steered from the console or the terminal when Slack is down.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from handlers.core.buttons import ButtonFn, ButtonPress
from handlers.core.commands import CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.deploy import buttons, canary_buttons
from services.deploy import controls, deployments
from services.deploy.live import stored
from services.deploy.model import Deployment, State
from services.errors import UserFacingError

# Subcommands of `deploy`, put in its group by handlers.deploy.register.
COMMANDS = CommandList()


def _press(env: CommandEnv, button: ButtonFn, deployment_id: str) -> Reply:
    return button(env, ButtonPress(value=deployment_id.upper()))


def _resume_button(env: CommandEnv, deployment_id: str) -> ButtonFn:
    """Two buttons say Resume: an interrupted deployment's, and a paused canary's."""
    try:
        deployment = deployments.get(env.deps.store, deployment_id)
    except UserFacingError:  # the button reports the bad id itself
        return buttons.resume
    if deployment.state is State.INTERRUPTED or stored(deployment.detail) is None:
        return buttons.resume
    return canary_buttons.resume


def _twin(name: str, help_text: str, button: Callable[[CommandEnv, str], ButtonFn]) -> None:
    @chat_command(
        COMMANDS,
        name,
        example=f"/hotfix deploy {name} DEP-12",
        short_help=help_text,
    )
    @click.argument("deployment_id", metavar="DEP-N")
    def twin(env: CommandEnv, deployment_id: str) -> Reply:
        return _press(env, button(env, deployment_id), deployment_id)

    twin.help = f"{help_text} The same as the card's button, with the same checks."


def _always(button: ButtonFn) -> Callable[[CommandEnv, str], ButtonFn]:
    return lambda _env, _id: button


for _name, _help, _button in (
    (
        "promote",
        "Promote a running canary to 100% (the card's Promote).",
        _always(canary_buttons.promote),
    ),
    (
        "pause",
        "Pause a running canary at its current weight (the card's Pause).",
        _always(canary_buttons.pause),
    ),
    (
        "resume",
        "Resume a paused or waiting canary, or an interrupted deployment (the card's Resume).",
        _resume_button,
    ),
    (
        "abort",
        "Abort a running canary: all traffic back to stable, then it rolls back (the card's Abort).",
        _always(canary_buttons.abort),
    ),
    (
        "rollback",
        "Roll back this deployment: stop it if running, undo it if finished (the card's Rollback).",
        _always(buttons.rollback),
    ),
):
    _twin(_name, _help, _button)


def next_commands(deployment: Deployment) -> list[str]:
    """The commands that apply to the deployment now: the card's buttons, typed."""
    state = deployment.state
    if deployment.detail.get("manual_intervention"):
        return []  # people take over the database: no rollback is offered (the card's too)
    if state is State.REQUESTED:
        words = ["approve", "reject", "cancel"]
        return [f"{word} {deployment.id}" for word in words]
    if state is State.INTERRUPTED:
        words = ["deploy resume", "deploy rollback"]
    elif controls.is_live(deployment):
        canary = stored(deployment.detail)
        held = canary is not None and (canary.paused or canary.waiting)
        words = ["deploy promote", "deploy resume" if held else "deploy pause", "deploy abort"]
    elif state in (
        State.APPROVED,
        State.VALIDATING,
        State.DEPLOYING,
        State.VERIFYING,
        State.SUCCEEDED,
        State.FAILED,
    ):
        words = ["deploy rollback"]
    else:
        words = []
    return [f"{word} {deployment.id}" for word in words]
