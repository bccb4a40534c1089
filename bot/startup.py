"""The bot's first calls to Slack: a refused token is named, an unreachable Slack is waited for.

At start the bot checks SLACK_BOT_TOKEN (auth.test) and, in Socket Mode, opens
its connection with SLACK_APP_TOKEN (apps.connections.open). Slack answering
503 or 429, or not answering at all, says nothing about the tokens: the bot
logs why and tries again with exponential backoff, instead of exiting and
being restarted in a loop that blames the token. A token Slack refuses is a
configuration error: one line names the variable and the bot exits with
`bot.cli_context.EXIT_TOKEN_REFUSED` (5).
"""

from __future__ import annotations

import logging
import re
import time
import urllib.error
from collections.abc import Callable
from typing import TypeVar

import websocket
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger("hotfix_bot")
T = TypeVar("T")
FIRST_DELAY = 1.0
MAX_DELAY = 60.0

# Slack's error codes that mean "this token is not usable here".
_WHERE = {
    "SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
    "SLACK_APP_TOKEN": "an app-level token (xapp-…) with the connections:write scope, from the"
    " app's Basic Information page",
}
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"}
)


class TokenRefusedError(Exception):
    """Slack refused a token: the message names the variable and what to put there."""


def unavailable_reason(exc: BaseException) -> str | None:
    """Why Slack could not be asked, when it may pass by itself; None when it will not."""
    exc = _slack_cause(exc)
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        if status == 429 or error == "ratelimited":
            return "rate limited, HTTP 429"
        if status >= 500 or error in _TRANSIENT_ERRORS:
            return f"HTTP {status}"
        return None
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}" if exc.code >= 500 or exc.code == 429 else None
    if isinstance(exc, urllib.error.URLError):
        return _os_reason(exc.reason) if isinstance(exc.reason, OSError) else str(exc.reason)
    if isinstance(exc, OSError):
        return _os_reason(exc)
    if isinstance(exc, websocket.WebSocketBadStatusException):
        return f"WebSocket handshake answered HTTP {exc.status_code}"
    if isinstance(exc, SlackClientError | websocket.WebSocketException):
        return type(exc).__name__
    return None


def _slack_cause(exc: BaseException) -> BaseException:
    """Bolt reports a failed auth.test as a BoltError raised while handling Slack's error."""
    cause = exc.__cause__ or exc.__context__
    return cause if isinstance(exc, BoltError) and cause is not None else exc


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or type(exc).__name__


def check_token(variable: str, value: str) -> None:
    """A token that cannot even be sent in an HTTP header is refused before any call."""
    if not re.fullmatch(r"[\x21-\x7e]+", value):
        raise TokenRefusedError(
            f"{variable} is not a Slack token (it holds spaces or non-ASCII characters):"
            f" set it to {_WHERE.get(variable, 'the token Slack issued')} (environment or .env)."
        )


def refusal(variable: str, exc: SlackApiError) -> TokenRefusedError:
    error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
    return TokenRefusedError(
        f"Slack refused {variable} ({error or f'HTTP {exc.response.status_code}'}):"
        f" set it to {_WHERE.get(variable, 'the token Slack issued')} (environment or .env)."
    )


def call_slack_at_start(
    call: Callable[[], T],
    *,
    variable: str,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call` until Slack answers; raise TokenRefusedError when it refuses `variable`.

    Anything else (a bug, a malformed URL) propagates as it is.
    """
    delay = FIRST_DELAY
    while True:
        try:
            return call()
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                slack_error = _slack_cause(exc)
                if isinstance(slack_error, SlackApiError):
                    raise refusal(variable, slack_error) from exc
                raise
        log.warning("Slack unreachable (%s), retrying in %.0fs (%s)", reason, delay, describe)
        sleep(delay)
        delay = min(delay * 2, MAX_DELAY)
