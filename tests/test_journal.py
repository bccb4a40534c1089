"""The command journal: acknowledged work, what is still open, and what is forgotten."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.core.context import Deps
from services import journal
from services.clock import ManualClock

pytestmark = pytest.mark.unit


def test_a_request_is_journaled_once_and_stays_open_until_finished(
    deps: Deps, clock: ManualClock
) -> None:
    payload = {"text": "incident update --message=hi", "response_url": "http://x/r"}
    assert journal.accept(
        deps.store, clock=clock, request_key="T1", kind="command", payload=payload
    )
    # A Slack retry of the same request is not a second piece of work.
    assert not journal.accept(
        deps.store, clock=clock, request_key="T1", kind="command", payload=payload
    )
    (entry,) = journal.unfinished(deps.store)
    assert (entry.request_key, entry.kind, entry.payload) == ("T1", "command", payload)
    journal.finish(deps.store, clock=clock, request_key="T1", outcome="failed")
    journal.finish(deps.store, clock=clock, request_key="T1")  # the first outcome stays
    assert journal.unfinished(deps.store) == []
    assert deps.store.query("SELECT outcome FROM command_journal") == [{"outcome": "failed"}]


def test_work_older_than_a_response_url_is_not_run_again(deps: Deps, clock: ManualClock) -> None:
    journal.accept(deps.store, clock=clock, request_key="T1", kind="command", payload={})
    (entry,) = journal.unfinished(deps.store)
    assert journal.why_not_replayable(entry, now=clock.now() + timedelta(minutes=30)) is None
    later = clock.now() + timedelta(minutes=31)
    assert journal.why_not_replayable(entry, now=later) == "expired"


def test_work_cut_short_on_every_run_is_given_up_after_three_replays(
    deps: Deps, clock: ManualClock
) -> None:
    journal.accept(deps.store, clock=clock, request_key="T1", kind="command", payload={})
    for _ in range(journal.MAX_REPLAYS):
        (entry,) = journal.unfinished(deps.store)
        assert journal.why_not_replayable(entry, now=clock.now()) is None
        journal.count_replay(deps.store, "T1")  # ...and the bot dies again
    (entry,) = journal.unfinished(deps.store)
    assert (entry.replays, journal.why_not_replayable(entry, now=clock.now())) == (3, "gave_up")


def test_finished_entries_are_pruned_after_a_day_open_ones_never(
    deps: Deps, clock: ManualClock
) -> None:
    for key in ("done", "open"):
        journal.accept(deps.store, clock=clock, request_key=key, kind="command", payload={})
    journal.finish(deps.store, clock=clock, request_key="done")
    clock.advance(timedelta(hours=23))
    assert journal.prune(deps.store, clock=clock) == 0
    clock.advance(timedelta(hours=2))
    assert journal.prune(deps.store, clock=clock) == 1
    assert [e.request_key for e in journal.unfinished(deps.store)] == ["open"]
