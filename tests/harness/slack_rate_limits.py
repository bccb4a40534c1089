"""Slack's published Web API rate limits, as the emulator enforces them.

Where they were checked (December 2026):

* The tiers: https://docs.slack.dev/apis/web-api/rate-limits (also the older
  https://api.slack.com/docs/rate-limits): limits apply "per API method per
  workspace/team per app"; Tier 1 is 1+ per minute, Tier 2 20+, Tier 3 50+,
  Tier 4 100+; "Special" methods have their own rules, chat.postMessage
  "generally allows posting one message per second per channel, while also
  maintaining a workspace-wide limit", with "short bursts >1 allowed".  Past a
  limit Slack answers HTTP 429 with a ``Retry-After`` header (whole seconds)
  and ``{"ok": false, "error": "ratelimited"}``.
* Each method's tier: the "Rate limits" fact of its page under
  https://docs.slack.dev/reference/methods/<method>, read through the
  machine-readable copy of those pages (the ``rate_limit.label`` of
  ``priv/docs/methods/<method>.json`` in the slack_kit package, whose labels
  link back to the page above).

What is chosen where Slack publishes no number (so no test relies on more):

* Each tier allows exactly its published minimum ("20+" -> 20) in any sliding
  60-second window: the strictest reading, so code that passes here passes there.
* chat.postMessage: a token bucket per channel refilled at 1 per second holding
  ``POST_BURST`` messages (Slack says only "short bursts"); its unpublished
  workspace-wide limit is not enforced.
* auth.test and chat.getPermalink are "Special" without a published rule:
  held to Tier 4.
* Requests answered 429 do not use up the window.

Time comes from the emulator's clock (injectable): a test that runs the bot
and the emulator on one scaled clock (see ``ScaledClock``) gets the same limits
in emulated seconds, so a two-minute storm takes seconds of wall time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WINDOW = 60.0  # seconds: every tier is "per minute"
TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
POST_PER_SECOND = 1.0
POST_BURST = 4
SPECIAL_POST = "chat.postMessage"

# Every method the emulator serves, with the tier its reference page gives.
METHOD_TIERS: dict[str, int] = {
    "apps.connections.open": 3,
    "auth.test": 4,  # "Special rate limits apply", no published number: held to Tier 4
    "bookmarks.add": 2,
    "bookmarks.list": 3,
    "chat.delete": 3,
    "chat.getPermalink": 4,  # "Special rate limits apply", no published number: Tier 4
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "conversations.archive": 2,
    "conversations.create": 2,
    "conversations.history": 3,  # internal (non-Marketplace, not distributed) apps keep Tier 3
    "conversations.info": 3,
    "conversations.invite": 3,
    "conversations.join": 3,
    "conversations.kick": 3,
    "conversations.list": 2,
    "conversations.members": 4,
    "conversations.open": 3,
    "conversations.replies": 3,  # as conversations.history
    "conversations.setPurpose": 2,
    "conversations.setTopic": 2,
    "files.completeUploadExternal": 4,
    "files.getUploadURLExternal": 4,
    "pins.add": 2,
    "pins.list": 2,
    "reactions.add": 3,
    "reactions.get": 3,
    "usergroups.list": 2,
    "usergroups.users.list": 2,
    "users.info": 4,
    "users.list": 2,
    "users.lookupByEmail": 3,
    "views.open": 4,
    "views.publish": 4,
    "views.push": 4,
    "views.update": 4,
}

LIMITED_METHODS = frozenset(METHOD_TIERS) | {SPECIAL_POST}


def per_minute(method: str) -> int:
    return TIER_PER_MINUTE[METHOD_TIERS[method]]


class RateLimiter:
    """Per token and method sliding windows, plus chat.postMessage's per-channel bucket."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, at

    def admit(self, token: str, method: str, channel: str | None) -> int | None:
        """Count the request, or return the Retry-After (whole seconds) it must wait."""
        with self._lock:
            now = self.clock()
            if method == SPECIAL_POST:
                return self._take_post(token, str(channel or ""), now)
            if method not in METHOD_TIERS:
                return None
            window = self._windows.setdefault((token, method), deque())
            while window and window[0] <= now - WINDOW:
                window.popleft()
            if len(window) >= per_minute(method):
                return _whole_seconds(window[0] + WINDOW - now)
            window.append(now)
            return None

    def _take_post(self, token: str, channel: str, now: float) -> int | None:
        tokens, at = self._buckets.get((token, channel), (float(POST_BURST), now))
        tokens = min(float(POST_BURST), tokens + (now - at) * POST_PER_SECOND)
        if tokens < 1.0:
            self._buckets[(token, channel)] = (tokens, now)
            return _whole_seconds((1.0 - tokens) / POST_PER_SECOND)
        self._buckets[(token, channel)] = (tokens - 1.0, now)
        return None


def _whole_seconds(wait: float) -> int:
    # Slack's Retry-After is whole seconds; rounding up never invites a retry too soon.
    return max(1, math.ceil(wait - 1e-9))


# -- checking a record of calls against the table --------------------------------


@dataclass(frozen=True)
class Admitted:
    method: str
    time: float
    channel: str | None = None


def over_limit(calls: Iterable[Admitted]) -> list[str]:
    """Each way the admitted calls broke a tier or the per-channel posting rule."""
    problems: list[str] = []
    by_method: dict[str, list[float]] = {}
    posts: dict[str, list[float]] = {}
    for call in calls:
        if call.method == SPECIAL_POST:
            posts.setdefault(str(call.channel), []).append(call.time)
        elif call.method in METHOD_TIERS:
            by_method.setdefault(call.method, []).append(call.time)
    for method, times in sorted(by_method.items()):
        times.sort()
        limit = per_minute(method)
        for i in range(len(times) - limit):
            if times[i + limit] - times[i] < WINDOW:
                problems.append(f"{method}: {limit + 1} calls within {WINDOW:.0f}s from {times[i]}")
                break
    for channel, times in sorted(posts.items()):
        times.sort()
        # A bucket of POST_BURST refilled at 1/s: n posts need at least n - POST_BURST seconds.
        for i in range(len(times)):
            for j in range(i + POST_BURST, len(times)):
                if times[j] - times[i] < (j - i + 1 - POST_BURST) / POST_PER_SECOND - 1e-6:
                    problems.append(f"chat.postMessage in {channel}: {j - i + 1} posts too fast")
                    break
            else:
                continue
            break
    return problems


def minimum_seconds(counts: dict[str, int], posts_per_channel: Iterable[int] = ()) -> float:
    """The physical limit: how long the busiest method needs for its calls, from a fresh window.

    n calls of a method allowing L per minute need (ceil(n / L) - 1) whole minutes; n posts
    into one channel need n - POST_BURST seconds after the burst.
    """
    needed = [
        (math.ceil(n / per_minute(method)) - 1) * WINDOW
        for method, n in counts.items()
        if method in METHOD_TIERS and n > 0
    ]
    needed += [max(0.0, (n - POST_BURST) / POST_PER_SECOND) for n in posts_per_channel]
    return max(needed, default=0.0)


# -- one time line for the bot and the emulator, running faster ------------------


class ScaledClock:
    """Emulated time running ``scale`` times faster than the wall clock.

    A ``services.clock.Clock`` for the bot (``now``/``sleep``) and, through
    :meth:`timestamp`, the emulator's clock: both see the same emulated seconds,
    so Slack's per-minute windows and the Retry-After the bot waits agree while
    the test takes 1/scale of the time.  Wall-clock work (HTTP, SQLite, CPU) is
    stretched by the same factor in emulated time, so a busy machine makes the
    emulated run slower, never faster than the limits allow.
    """

    def __init__(self, scale: float, start: datetime | None = None) -> None:
        self.scale = scale
        self._start = start or datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
        self._wall = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._wall) * self.scale)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.scale)
