"""The one module that talks to Statuspage (Atlassian Statuspage API v1), with its errors.

Plain `urllib.request` from the standard library: four JSON calls need no client library
(Atlassian publishes none for Python), and the stdlib adds nothing to keep patched.

Statuspage allows about one request per second per API key and answers 420 or 429 past
it; the client paces its own requests (`requests_per_second`, with an injected clock and
sleeper so that tests need not wait) and says how long to wait when refused anyway.
The key travels only in the `Authorization: OAuth <key>` header: never in a URL, a log
line or an error message.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from services.errors import TemporaryError, UserFacingError

# Statuspage's documented limits (the API refuses longer values with a 422).
NAME_LIMIT = 255
BODY_LIMIT = 25000
TIMEOUT_SECONDS = 15.0
# The longest the client sleeps to keep its pace; a longer wait goes back to the queue.
MAX_PAUSE = 0.25
_ERROR_TEXT = 300  # how much of an error body is quoted


class StatuspageError(UserFacingError):
    """A call that did not work; `hint` says what a person can do about it."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status


class StatuspageUnavailable(StatuspageError, TemporaryError):
    """Statuspage is down, timed out or unreachable: the same request may work later."""


class StatuspageRateLimited(StatuspageUnavailable):
    """420 / 429: too many requests for this key; `delay` in seconds. Also raised,
    with no status, before sending when the client's own pacing would wait too long."""

    delay: float  # always known: Statuspage's header, or the client's own pacing

    def __init__(self, message: str, *, status: int | None, delay: float) -> None:
        super().__init__(message, status=status)
        self.delay = delay


class StatuspageRefused(StatuspageError):
    """Statuspage will never take this request as it is (a bad key, page, or payload)."""


class StatuspageUnauthorized(StatuspageRefused):
    """401 / 403: the API key is wrong, revoked, or may not manage this page."""


class StatuspageNotFound(StatuspageRefused):
    """404: no such page, or no such incident on it."""


class StatuspageInvalid(StatuspageRefused):
    """400 / 422: the payload was rejected (the body says which field)."""


JSON = dict[str, Any]


class StatuspageClient:
    def __init__(
        self,
        *,
        api_url: str,
        page_id: str,
        api_key: str,
        requests_per_second: float = 1.0,
        timeout: float = TIMEOUT_SECONDS,
        max_pause: float = MAX_PAUSE,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base = api_url.rstrip("/")
        self.page_id = page_id
        self._key = api_key
        self.interval = 1.0 / requests_per_second
        self.timeout = timeout
        self.max_pause = max_pause
        self._monotonic = monotonic
        self._sleep = sleep
        self._pace = threading.Lock()
        self._next_at: float | None = None

    def __repr__(self) -> str:  # never the key
        return f"StatuspageClient({self.base!r}, page={self.page_id!r})"

    # -- the calls --------------------------------------------------------------

    def create_incident(self, incident: JSON) -> JSON:
        """POST /pages/{page_id}/incidents: the incident, with its first incident update."""
        return self._object(self._call("POST", self._incidents(), {"incident": incident}))

    def update_incident(self, incident_id: str, incident: JSON) -> JSON:
        """PATCH /pages/{page_id}/incidents/{incident_id}; a `body` adds an incident update."""
        path = f"{self._incidents()}/{quote(incident_id, safe='')}"
        return self._object(self._call("PATCH", path, {"incident": incident}))

    def get_incident(self, incident_id: str) -> JSON:
        path = f"{self._incidents()}/{quote(incident_id, safe='')}"
        return self._object(self._call("GET", path, None))

    def unresolved_incidents(self, *, per_page: int = 100, max_pages: int = 10) -> list[JSON]:
        """GET /pages/{page_id}/incidents/unresolved, every page of it (up to `max_pages`)."""
        found: list[JSON] = []
        for page in range(1, max_pages + 1):
            path = f"{self._incidents()}/unresolved?page={page}&per_page={per_page}"
            batch = self._call("GET", path, None)
            if not isinstance(batch, list):
                raise StatuspageUnavailable("Statuspage answered the incident list with no list")
            found += [item for item in batch if isinstance(item, dict)]
            if len(batch) < per_page:
                break
        return found

    # -- HTTP -------------------------------------------------------------------

    def _incidents(self) -> str:
        return f"/pages/{quote(self.page_id, safe='')}/incidents"

    @staticmethod
    def _object(value: Any) -> JSON:
        if not isinstance(value, dict):
            raise StatuspageUnavailable("Statuspage answered with no incident object")
        return value

    def _wait_for_turn(self) -> None:
        """At most `requests_per_second` requests leave this client (its key's limit).

        A short wait is slept; a longer one is handed back (StatuspageRateLimited, nothing
        sent): the dispatcher delivers one channel after another, and a page, a mail or a
        war room must not queue behind the status page's pace."""
        with self._pace:
            now = self._monotonic()
            wait = 0.0 if self._next_at is None else min(self._next_at - now, self.interval)
            if wait > self.max_pause:
                raise StatuspageRateLimited(
                    f"paced to {1 / self.interval:g} request(s) per second: the next in"
                    f" {wait:.2f} s",
                    status=None,
                    delay=wait,
                )
            if wait > 0:
                self._sleep(wait)
                now += wait
            self._next_at = now + self.interval

    def _call(self, method: str, path: str, payload: JSON | None) -> Any:
        self._wait_for_turn()
        data = json.dumps(payload).encode() if payload is not None else None
        # api_url is http(s) only (HttpUrlText in the settings): no file: or custom schemes.
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"OAuth {self._key}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        what = f"{method} {path.split('?', 1)[0]}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _error(what, exc) from None
        except TimeoutError as exc:
            raise StatuspageUnavailable(f"{what} timed out after {self.timeout:g} s") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StatuspageUnavailable(f"{what} could not reach Statuspage: {reason}") from None
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise StatuspageUnavailable(f"{what}: Statuspage answered with no JSON") from None


def _error(what: str, exc: urllib.error.HTTPError) -> StatuspageError:
    status = exc.code
    detail = _error_detail(exc)
    said = f"{what} answered {status}" + (f": {detail}" if detail else "")
    if status in (420, 429):
        return StatuspageRateLimited(
            said, status=status, delay=_retry_after(exc.headers.get("Retry-After"))
        )
    if status in (401, 403):
        return StatuspageUnauthorized(
            said,
            status=status,
            hint="Check the API key in the environment variable named by statuspage.api_key_env"
            " (a key of a user who may manage the page), then restart the bot.",
        )
    if status == 404:
        return StatuspageNotFound(
            said,
            status=status,
            hint="Check statuspage.page_id; an incident deleted on the page cannot be updated.",
        )
    if status in (400, 422):
        return StatuspageInvalid(
            said,
            status=status,
            hint="Check statuspage.components (component ids of this page) and the words sent.",
        )
    if status >= 500 or status == 408:
        return StatuspageUnavailable(said, status=status)
    return StatuspageRefused(said, status=status)


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """Statuspage's error body: `{"message": …}` (its ErrorEntity), or `{"error": …}`."""
    try:
        raw = exc.read()
    except OSError:
        return ""
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    said = body.get("message") or body.get("error") or body.get("errors") or ""
    if isinstance(said, list):
        said = "; ".join(str(item) for item in said)
    return " ".join(str(said).split())[:_ERROR_TEXT]


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header; a missing or odd one waits the limit's second."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 1.0), 3600.0)
