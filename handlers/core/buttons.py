"""Button handlers, independent of Slack: the console presses the same buttons.

An action receives the CommandEnv of the click (who clicked, where) and the
button's value, and returns a Reply. Authorisation belongs inside each
action, checked on every click: seeing a button is not permission to press it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers.core.context import CommandEnv
from handlers.core.guard import run_guarded
from handlers.core.replies import Reply
from services.errors import UserFacingError
from services.metrics import declare_actions


@dataclass(frozen=True)
class Click:
    """What was clicked: the button's value, or a picker's / checklist's selection."""

    value: str = ""
    selected: tuple[str, ...] = ()
    block_id: str = ""
    message_ts: str | None = None


ActionFn = Callable[[CommandEnv, Click], Reply]


@dataclass(frozen=True)
class ActionSpec:
    fn: ActionFn
    # Inline actions run inside Slack's 3 s window on the listener thread: they open
    # forms, whose trigger ids expire. The rest run on the worker.
    inline: bool


ACTIONS: dict[str, ActionSpec] = {}
PREFIX_ACTIONS: dict[str, ActionSpec] = {}


def action(
    action_id: str, *, inline: bool = False, prefix: bool = False
) -> Callable[[ActionFn], ActionFn]:
    def decorator(fn: ActionFn) -> ActionFn:
        table = PREFIX_ACTIONS if prefix else ACTIONS
        if action_id in table:
            raise ValueError(f"action {action_id} registered twice")
        table[action_id] = ActionSpec(fn, inline)
        declare_actions([f"click:{action_id}"], prefix=prefix)
        return fn

    return decorator


def find_action(action_id: str) -> ActionSpec | None:
    spec = ACTIONS.get(action_id)
    if spec is None:
        spec = next((s for p, s in PREFIX_ACTIONS.items() if action_id.startswith(p)), None)
    return spec


def run_action(action_id: str, click: Click, env: CommandEnv) -> Reply:
    """Run one click, audit it, and turn every failure into a reply."""
    spec = find_action(action_id)

    def run() -> Reply:
        if spec is None:
            raise UserFacingError(
                "That button is no longer supported by this bot.",
                hint="Run the command again to get a fresh message.",
            )
        return spec.fn(env, click)

    return run_guarded(
        env,
        action=f"click:{action_id}",
        detail=(click.value or ",".join(click.selected))[:500],
        what="that click",
        run=run,
    )
