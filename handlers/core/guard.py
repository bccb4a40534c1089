"""Running a command, click or form: every failure becomes an answer, every run an audit row."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from handlers.core.context import CommandEnv
from handlers.core.replies import Reply, error_reply
from services.audit import AuditEntry, Outcome, record
from services.errors import PermissionDeniedError, UserFacingError
from services.metrics import COMMANDS, action_name

log = logging.getLogger(__name__)


def audit(env: CommandEnv, action: str, outcome: Outcome, detail: str) -> None:
    COMMANDS.labels(action_name(action), outcome.value).inc()
    inv = env.invocation
    record(
        env.deps.store,
        clock=env.deps.clock,
        entry=AuditEntry(
            actor=inv.actor,
            source=inv.source,
            action=action,
            outcome=outcome,
            detail=detail,
            team_id=inv.team_id,
            channel_id=inv.channel_id,
        ),
    )


def run_guarded(
    env: CommandEnv,
    *,
    action: str,
    detail: str,
    what: str,
    run: Callable[[], Reply],
    on_usage_error: Callable[[Exception], Reply] | None = None,
) -> Reply:
    """Run `run`; refusals, expected failures and bugs all end in a reply and an audit row.

    `what` names the request for the person ("`/hotfix deploy`", "that click").
    """
    outcome = Outcome.OK
    try:
        reply = run()
    except PermissionDeniedError as exc:
        outcome, reply = Outcome.REFUSED, error_reply(exc.message, hint=exc.hint)
    except UserFacingError as exc:
        outcome, reply = Outcome.FAILED, error_reply(exc.message, hint=exc.hint)
    except Exception as exc:
        if on_usage_error is not None and _is_usage_error(exc):
            outcome, reply = Outcome.USAGE_ERROR, on_usage_error(exc)
        else:
            error_id = secrets.token_hex(4)
            log.exception("%s failed (error id %s)", action, error_id)
            outcome = Outcome.ERROR
            reply = error_reply(
                f"Something went wrong with {what}.",
                hint="What was recorded before the failure is kept. Try again, or check"
                f" the bot's log for error id {error_id}.",
                error_id=error_id,
            )
    if outcome is not Outcome.OK:
        detail = f"{detail} -> {reply.data.get('message', '')}"
    audit(env, action, outcome, detail)
    return reply


def _is_usage_error(exc: Exception) -> bool:
    import click

    return isinstance(exc, click.UsageError)
