"""An incident storm: many incidents declared at once against a rate-limiting Slack.

Shared by tests/test_storm.py and bench/storm.py. The bot runs in HTTP mode
(``start_bot``), the declarations are signed slash commands sent concurrently,
and the Slack emulator enforces the published tiers (``rate_limits=True``).
Bot and emulator share one ``ScaledClock``: emulated time runs ``scale`` times
faster than the wall clock, so Slack's per-minute windows, the Retry-After the
bot waits and every measured duration are in emulated seconds; the wall-clock
work of the bot (HTTP, SQLite) is stretched by the same factor, which can only
make the storm look slower than it is, never faster than the limits allow.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import slack_rate_limits as limits
from tests.harness.running_bot import RunningBot, manifest_scopes, start_bot
from tests.harness.slack_driver import DriverResult
from tests.harness.slack_emulator import ApiCall, SlackEmulator

ANNOUNCE = "C0INCIDENTS"
ESCALATE = "C0EXEC"
ONCALL = "S0ONCALL"
BOOKMARKS = [
    {"title": "Runbook", "link": "https://runbooks.example.com/{incident_id}"},
    {"title": "Dashboard", "link": "https://grafana.example.com/d/payments"},
]
SETTINGS: dict[str, Any] = {
    "announcement_channel": ANNOUNCE,
    "escalation_channel": ESCALATE,
    "escalation_usergroup": ONCALL,
    "bookmarks": BOOKMARKS,
    "severities": {
        "sev1": {"responders": ["U0BOB", ONCALL], "update_every_minutes": 15, "escalate": True}
    },
}


@dataclass
class Storm:
    bot: RunningBot
    slack: SlackEmulator
    clock: limits.ScaledClock
    started: float = 0.0  # emulated timestamp of the first declaration
    answers: list[DriverResult] = field(default_factory=list)

    def declare(self, incidents: int, *, timeout: float) -> None:
        """Send every declaration at once; wait (wall seconds) for every declarer's answer."""
        self.started = self.clock.timestamp()
        with ThreadPoolExecutor(max_workers=incidents) as pool:
            self.answers = list(
                pool.map(
                    lambda n: self.bot.driver.slash(
                        f'incident create --severity=sev1 --title="Storm outage {n}"'
                    ),
                    range(incidents),
                )
            )
        for answer in self.answers:
            assert answer.response_id is not None
            self.slack.wait_for_response(answer.response_id, timeout=timeout)
        self.bot.settle(timeout)

    def finished(self) -> float:
        """Emulated seconds from the first declaration to the last declarer's answer."""
        last = max(
            post.time
            for answer in self.answers
            for post in self.slack.response_posts(str(answer.response_id))
        )
        return last - self.started

    def admitted(self) -> list[ApiCall]:
        return [c for c in self.slack.calls if c.status != 429 and c.time >= self.started]

    def ratelimited(self) -> Counter[str]:
        return Counter(c.method for c in self.slack.calls if c.status == 429)

    def over_limit(self) -> list[str]:
        return limits.over_limit(
            limits.Admitted(c.method, c.time, str(c.args.get("channel") or ""))
            for c in self.admitted()
        )

    def minimum(self) -> float:
        """The physical limit for the calls this storm needed: see limits.minimum_seconds."""
        calls = self.admitted()
        counts = Counter(c.method for c in calls if c.method != limits.SPECIAL_POST)
        posts = Counter(
            str(c.args.get("channel")) for c in calls if c.method == limits.SPECIAL_POST
        )
        return limits.minimum_seconds(dict(counts), posts.values())


@contextlib.contextmanager
def storm(tmp_path: Path, *, scale: float) -> Iterator[Storm]:
    clock = limits.ScaledClock(scale)
    slack = SlackEmulator(scopes=manifest_scopes(), rate_limits=True, clock=clock.timestamp)
    slack.add_user("U0ALICE", "alice", real_name="Alice Oncall")
    slack.add_user("U0BOB", "bob", real_name="Bob Responder")
    slack.add_user("U0DAVE", "dave", real_name="Dave Oncall")
    slack.add_channel("general", channel_id="C0GENERAL", members=("U0ALICE", "U0BOB", "UBOT"))
    slack.add_channel("incidents", channel_id=ANNOUNCE, members=("UBOT", "U0ALICE"))
    slack.add_channel("exec-escalations", channel_id=ESCALATE, members=("UBOT",))
    slack.add_usergroup("oncall", ["U0DAVE"], usergroup_id=ONCALL)
    with slack:
        bot = start_bot(
            slack=slack,
            store_path=tmp_path / "storm.db",
            clock=clock,
            extra_settings={"incidents": SETTINGS},
        )
        try:
            yield Storm(bot=bot, slack=slack, clock=clock)
        finally:
            bot.stop()
