"""The reminder tick with 1,000 open incidents: time per tick and memory.

Two cases: the usual tick where nothing is due (what runs every 30 s), and
the tick after an outage where every incident's reminder is due at once and
is posted to Slack (the emulator, over localhost HTTP).

    python -m bench.reminder_tick [--incidents 1000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bot.secrets import Secrets
from bot.slack_app import build_web_client, slack_chat
from bot.wiring import build_deps, close_deps
from services.clock import ManualClock
from services.incidents import records
from services.incidents.model import Severity
from services.incidents.records import NewIncident
from services.incidents.reminders import tick
from services.settings import Settings
from tests.harness.slack_emulator import SlackEmulator


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(incidents: int, idle_ticks: int = 50) -> dict[str, float]:
    clock = ManualClock()
    with SlackEmulator() as slack, tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate(
            {"store": {"path": str(Path(tmp) / "bench.db")}, "slack": {"api_url": slack.api_url}}
        )
        client = build_web_client(settings, Secrets(slack.bot_token, None, None))
        deps = build_deps(settings, clock=clock, chat=slack_chat(client))
        for n in range(incidents):
            channel = slack.add_channel(f"inc-{n + 1}", members=("UBOT",))
            incident, _ = records.create(
                deps.store,
                clock=clock,
                new=NewIncident(
                    title=f"Outage {n}",
                    severity=Severity.SEV2,
                    impact="medium",
                    description="",
                    commander="U0ALICE",
                    declared_by="U0ALICE",
                    origin_channel_id=None,
                    next_update_due_at=clock.now() + timedelta(minutes=30),
                    request_key=None,
                ),
            )
            records.set_if_unset(
                deps.store, incident.id, channel_id=channel, channel_name=f"inc-{n + 1}"
            )
        rss_before = rss_mib()
        started = time.perf_counter()
        for _ in range(idle_ticks):
            assert tick(deps=deps.war_room).reminders == []
        idle = (time.perf_counter() - started) / idle_ticks
        clock.advance(timedelta(minutes=31))
        started = time.perf_counter()
        report = tick(deps=deps.war_room)
        due = time.perf_counter() - started
        assert len(report.reminders) == incidents, report.problems[:3]
        close_deps(deps)
        return {
            "idle_ms": idle * 1000,
            "due_s": due,
            "per_reminder_ms": due / incidents * 1000,
            "rss_before_mib": rss_before,
            "rss_after_mib": rss_mib(),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Reminder tick with many open incidents")
    parser.add_argument("--incidents", type=int, default=1000)
    args = parser.parse_args(argv)
    r = run(args.incidents)
    print(f"Reminder tick with {args.incidents} open incidents")
    print(f"  nothing due (every tick):       {r['idle_ms']:.2f} ms per tick")
    print(
        f"  all due at once (after outage): {r['due_s']:.2f} s per tick, {r['per_reminder_ms']:.2f} ms per reminder posted"
    )
    print(
        f"  max RSS: {r['rss_before_mib']:.0f} MiB before the ticks, {r['rss_after_mib']:.0f} MiB after"
    )


if __name__ == "__main__":
    main()
