"""The only module that talks to PagerDuty: the Events API v2 `enqueue` endpoint.

`EventsClient.send` POSTs one alert event (`trigger`, `acknowledge`, `resolve`) as JSON
with the routing key added, once — it never sleeps or retries by itself: the durable
deliveries queue decides when to try again, so a rate limit or an outage never holds
the bot's worker. Answers, as PagerDuty's Events API v2 reference lists them:

* 202 `{"status": "success", "message": "Event processed", "dedup_key": …}` ->
  `Accepted`.
* 400 `{"status": "invalid event", "message": "Event object is invalid", "errors": […]}`
  -> `PagerDutyRejected` with PagerDuty's `errors` (not retryable: the same event is
  refused again).
* 429 (too many events for the routing key; PagerDuty sends no Retry-After and
  suggests backing off) -> `PagerDutyRateLimited`, with a `delay` when a Retry-After
  header says so.
* 5xx, timeouts, network errors -> `PagerDutyUnavailable` (retryable).
* anything else (a 404 from a wrong URL, a redirect, a body that is not PagerDuty's)
  -> `PagerDutyError`, not retryable: a person must fix the configuration.

The routing key travels only in the request body. It is never part of a message, a
log line or `repr`, and it is scrubbed from any response text quoted in an error.

Why not PagerDuty's own `pagerduty` package (7.x, `EventsApiV2Client`): its client
sleeps and retries inside the call (without limit on 429, up to six times on 5xx),
which would hold the bot's worker and fight the durable queue that owns retries here;
it only accepts https:// base URLs, so it cannot be pointed at a local test server
over plain HTTP; and it pulls in an HTTP library the bot has no other use for.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.errors import TemporaryError, UserFacingError

MAX_RESPONSE_BYTES = 64 * 1024
SUMMARY_LIMIT = 1024  # payload.summary, as the reference says
_SNIPPET = 300
USER_AGENT = "hotfix-bot (PagerDuty Events API v2)"


class PagerDutyError(UserFacingError):
    """Base of the tree; `retryable` says whether sending the same event later may work."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PagerDutyUnavailable(PagerDutyError, TemporaryError):
    """PagerDuty could not take the event now (5xx, timeout, network): send it later."""


class PagerDutyRateLimited(PagerDutyUnavailable):
    """429: too many events for this routing key. `delay` (seconds) when told."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message, status=429)
        self.delay = delay


class PagerDutyRejected(PagerDutyError):
    """400: PagerDuty refused the event itself; `errors` are its reasons."""

    def __init__(self, message: str, *, errors: list[str]) -> None:
        super().__init__(message, status=400)
        self.errors = errors


@dataclass(frozen=True)
class Accepted:
    dedup_key: str
    message: str


class EventsClient:
    def __init__(self, *, url: str, timeout: float = 10.0) -> None:
        if not url.startswith(("https://", "http://")):
            raise PagerDutyError(f"The Events API URL must be http(s): {url[:80]!r}")
        self.url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"EventsClient(url={self.url!r})"

    def send(self, event: Mapping[str, Any], *, routing_key: str) -> Accepted:
        """Enqueue `event` (everything but the routing key) for `routing_key`'s service."""
        body = json.dumps({**event, "routing_key": routing_key}).encode()
        # events_url is checked as http(s) by the settings (HttpUrlText).
        request = urllib.request.Request(  # noqa: S310
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = int(response.status)
                text = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
                headers = response.headers
        except urllib.error.HTTPError as exc:
            status = exc.code
            text = exc.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
            headers = exc.headers
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise PagerDutyUnavailable(
                f"PagerDuty could not be reached: {type(exc).__name__}: {reason}"
            ) from None
        text = text.replace(routing_key, "[routing key]") if routing_key else text
        return _answer(status, text, headers.get("Retry-After") if headers else None)


def _answer(status: int, text: str, retry_after: str | None) -> Accepted:
    body = _json(text)
    if status == 202 and body is not None and isinstance(body.get("dedup_key"), str):
        return Accepted(dedup_key=body["dedup_key"], message=str(body.get("message", "")))
    if status == 400:
        errors = body.get("errors") if body else None
        reasons = [str(e) for e in errors] if isinstance(errors, list) else []
        said = str(body.get("message", "")) if body else ""
        detail = "; ".join(reasons) or said or _snippet(text)
        raise PagerDutyRejected(f"PagerDuty refused the event: {detail}", errors=reasons)
    if status == 429:
        raise PagerDutyRateLimited(
            "PagerDuty is rate-limiting events for this routing key (429)",
            delay=_retry_after(retry_after),
        )
    said = f": {_snippet(text)}" if text.strip() else ""
    if status >= 500:
        raise PagerDutyUnavailable(f"PagerDuty answered {status}{said}", status=status)
    raise PagerDutyError(
        f"PagerDuty's Events API answered {status} unexpectedly{said}", status=status
    )


def _json(text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 1] + "…"


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a wrong URL: say so instead of re-posting the routing key elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)
