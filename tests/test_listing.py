"""The open-incident list data: reused while nothing shown can differ, rebuilt the moment it can."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.core.context import Deps
from services.clock import ManualClock
from services.incidents import records
from services.incidents.listing import OpenIncidentsView
from services.incidents.model import Severity
from services.store import Store

pytestmark = pytest.mark.unit


def declare(deps: Deps, title: str) -> str:
    incident, _ = records.create(
        deps.store,
        clock=deps.clock,
        new=records.NewIncident(
            title=title,
            severity=Severity.SEV2,
            impact="high",
            description="",
            commander="U0ALICE",
            declared_by="U0ALICE",
            origin_channel_id="C0GENERAL",
            next_update_due_at=deps.clock.now() + timedelta(minutes=30),
            request_key=None,
        ),
    )
    return incident.id


def test_the_data_is_reused_while_nothing_changes_and_no_age_ticks_over(
    deps: Deps, clock: ManualClock
) -> None:
    declare(deps, "Checkout slow")
    view = OpenIncidentsView()
    first = view.get(deps.store, now=clock.now())
    clock.advance(timedelta(seconds=59))
    again = view.get(deps.store, now=clock.now())
    assert again is first and [i["title"] for i in first.incidents] == ["Checkout slow"]
    clock.advance(timedelta(seconds=1))  # the age shown becomes "1m"
    ticked = view.get(deps.store, now=clock.now())
    assert ticked.version != first.version
    assert ticked.incidents[0]["age"] != first.incidents[0]["age"]


def test_a_write_from_another_process_is_seen_at_once(deps: Deps, clock: ManualClock) -> None:
    declare(deps, "Checkout slow")
    view = OpenIncidentsView()
    before = view.get(deps.store, now=clock.now())
    other = Store(deps.store.path)  # another connection, as a second process would have
    try:
        other.conn.execute("UPDATE incidents SET title = 'Checkout down' WHERE number = 1")
    finally:
        other.close()
    after = view.get(deps.store, now=clock.now())
    assert after.version != before.version
    assert [i["title"] for i in after.incidents] == ["Checkout down"]


def test_resolving_removes_the_incident_and_a_write_that_shows_nothing_keeps_the_version(
    deps: Deps, clock: ManualClock
) -> None:
    first_id = declare(deps, "Checkout slow")
    declare(deps, "Search down")
    view = OpenIncidentsView()
    before = view.get(deps.store, now=clock.now())
    records.set_if_unset(deps.store, first_id, header_ts="1700000000.000100")
    unchanged = view.get(deps.store, now=clock.now())
    assert unchanged.version == before.version  # not shown: the rendered message still fits
    deps.store.conn.execute("UPDATE incidents SET status = 'resolved' WHERE id = ?", (first_id,))
    after = view.get(deps.store, now=clock.now())
    assert [i["title"] for i in after.incidents] == ["Search down"]
