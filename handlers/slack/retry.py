"""Waiting out Slack's rate limits instead of failing the step that met one.

Slack answers a method called past its tier with HTTP 429 and a `Retry-After`
header in whole seconds (https://docs.slack.dev/apis/web-api/rate-limits). The
WebClient's handler here waits exactly that long, on the bot's clock (so a test
running on a scaled clock waits in scaled time), and asks again; it never asks
sooner. Only when waiting would pass `max_wait` in all does the 429 reach the
caller, where it is a retryable ChatError: the outbox and the war room's resume
finish the step later.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)
WAITED = "rate_limit_waited"
# A storm of 50 war rooms keeps a Tier 2 method (20 a minute) busy for a few minutes.
MAX_WAIT_SECONDS = 300.0
MAX_RETRIES = 20
# Methods answering a person within Slack's 3 s trigger window (a form, an ephemeral
# answer): waiting longer cannot help (the trigger id expires) and would hold one of Bolt's
# few listener threads, so they wait at most this long.
INTERACTIVE_METHODS = ("views.open", "views.push", "views.update", "chat.postEphemeral")
INTERACTIVE_MAX_WAIT_SECONDS = 2.0


def retry_after(response: HttpResponse) -> float:
    """Slack's Retry-After in seconds (1 when it is missing or unreadable, as slack_sdk does)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) and values else values
            try:
                return max(0.0, float(str(value)))
            except ValueError:
                break
    return 1.0


def _interactive(request: HttpRequest) -> bool:
    return request.url.rstrip("/").endswith(INTERACTIVE_METHODS)


class RetryAfterHandler(RetryHandler):
    def __init__(
        self,
        *,
        sleep: Callable[[float], None],
        max_retry_count: int = MAX_RETRIES,
        max_wait: float = MAX_WAIT_SECONDS,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep
        self.max_wait = max_wait
        # Up to a second more, so that callers told the same Retry-After do not all come
        # back in the same instant and meet the limit again.
        self.jitter = jitter

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        waited = float((state.custom_values or {}).get(WAITED, 0.0))
        limit = INTERACTIVE_MAX_WAIT_SECONDS if _interactive(request) else self.max_wait
        return waited + retry_after(response) <= min(limit, self.max_wait)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None
        wait = retry_after(response) + self.jitter()
        values = state.custom_values if state.custom_values is not None else {}
        values[WAITED] = float(values.get(WAITED, 0.0)) + wait
        state.custom_values = values
        log.info("Slack rate limit on %s: waiting %.1fs as told", request.url, wait)
        state.next_attempt_requested = True
        self.sleep(wait)
        state.increment_current_attempt()
