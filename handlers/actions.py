"""Button handlers, independent of Slack: the console presses the same buttons.

An action receives the CommandEnv of the click (who clicked, where) and the
button's value, and returns a Reply. Authorisation belongs inside each
action, checked on every click: seeing a button is not permission to press it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from handlers.context import CommandEnv
from handlers.replies import Reply, error_reply
from services.audit import AuditEntry, Outcome, record
from services.errors import PermissionDeniedError, UserFacingError

log = logging.getLogger(__name__)

ActionFn = Callable[[CommandEnv, str], Reply]
ACTIONS: dict[str, ActionFn] = {}


def action(action_id: str) -> Callable[[ActionFn], ActionFn]:
    def decorator(fn: ActionFn) -> ActionFn:
        if action_id in ACTIONS:
            raise ValueError(f"action {action_id} registered twice")
        ACTIONS[action_id] = fn
        return fn

    return decorator


def run_action(action_id: str, value: str, env: CommandEnv) -> Reply:
    """Run one click, audit it, and turn every failure into a reply."""
    handler = ACTIONS.get(action_id)
    outcome = Outcome.OK
    if handler is None:
        outcome = Outcome.FAILED
        reply = error_reply(
            "That button is no longer supported by this bot.",
            hint="Run the command again to get a fresh message.",
        )
    else:
        try:
            reply = handler(env, value)
        except PermissionDeniedError as exc:
            outcome, reply = Outcome.REFUSED, error_reply(exc.message, hint=exc.hint)
        except UserFacingError as exc:
            outcome, reply = Outcome.FAILED, error_reply(exc.message, hint=exc.hint)
        except Exception:
            error_id = secrets.token_hex(4)
            log.exception("action %s failed (error id %s)", action_id, error_id)
            outcome = Outcome.ERROR
            reply = error_reply(
                "Something went wrong handling that click.",
                hint=f"Try again, or check the bot's log for error id {error_id}.",
                error_id=error_id,
            )
    inv = env.invocation
    record(
        env.deps.store,
        clock=env.deps.clock,
        entry=AuditEntry(
            actor=inv.actor,
            source=inv.source,
            action=f"click:{action_id}",
            outcome=outcome,
            detail=value[:500],
            team_id=inv.team_id,
            channel_id=inv.channel_id,
        ),
    )
    return reply
