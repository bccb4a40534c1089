"""The store: migrations, WAL, the append-only timeline, the audit log."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from services import timeline
from services.audit import AuditEntry, Outcome, record, search
from services.clock import ManualClock
from services.store import Store, StoreError
from services.store.migrations import MIGRATIONS, Migration, current_version, migrate

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "store.db")
    yield opened
    opened.close()


def test_migrate_applies_everything_once(store: Store, clock: ManualClock) -> None:
    applied = migrate(store, clock=clock)
    assert [m.version for m in applied] == [m.version for m in MIGRATIONS]
    assert current_version(store) == MIGRATIONS[-1].version
    assert migrate(store, clock=clock) == []
    assert {"timeline", "audit", "schema_migrations"} <= set(store.db.table_names())


def test_the_database_runs_in_wal_mode(store: Store, clock: ManualClock) -> None:
    migrate(store, clock=clock)
    assert store.query_one("PRAGMA journal_mode")["journal_mode"] == "wal"


def test_a_failing_migration_leaves_the_previous_version(store: Store, clock: ManualClock) -> None:
    broken = (*MIGRATIONS, Migration(99, "broken", "CREATE TABLE ok (x);\nCREATE TABLE ok (y);"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(store, clock=clock, migrations=broken)
    assert current_version(store) == MIGRATIONS[-1].version
    assert "ok" not in store.db.table_names()


def test_a_database_newer_than_the_code_is_refused(store: Store, clock: ManualClock) -> None:
    migrate(store, clock=clock)
    store.conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'now')")
    with pytest.raises(StoreError, match="newer than this hotfix-bot knows"):
        migrate(store, clock=clock)


def test_concurrent_migrations_from_two_connections_apply_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "race.db"
    results: list[int] = []

    def run() -> None:
        own = Store(path)
        results.append(len(migrate(own, clock=clock)))
        own.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == len(MIGRATIONS)


def test_timeline_is_append_only(store: Store, clock: ManualClock) -> None:
    migrate(store, clock=clock)
    event = timeline.append(
        store, clock=clock, incident_id="INC-1", actor="U1", kind="declared", text="Declared"
    )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE timeline SET text = 'rewritten' WHERE id = ?", (event.id,))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM timeline")
    assert [e.text for e in timeline.events(store, incident_id="INC-1")] == ["Declared"]


def test_timeline_dedup_key_makes_appends_idempotent(store: Store, clock: ManualClock) -> None:
    migrate(store, clock=clock)
    first = timeline.append(
        store,
        clock=clock,
        incident_id="INC-1",
        actor="U1",
        kind="note",
        text="pinned",
        data={"ts": "1.2"},
        dedup_key="pin:C1:1.2",
    )
    again = timeline.append(
        store,
        clock=clock,
        incident_id="INC-1",
        actor="U1",
        kind="note",
        text="pinned",
        dedup_key="pin:C1:1.2",
    )
    assert again.id == first.id
    events = timeline.events(store, incident_id="INC-1")
    assert len(events) == 1
    assert events[0].data == {"ts": "1.2"}
    assert events[0].at == clock.now()


def test_audit_search_filters_newest_first(store: Store, clock: ManualClock) -> None:
    migrate(store, clock=clock)
    for actor, outcome in [("U1", Outcome.OK), ("U2", Outcome.REFUSED), ("U1", Outcome.REFUSED)]:
        record(store, clock=clock, entry=AuditEntry(actor, "slack", "command:deploy", outcome))
    assert [r["actor"] for r in search(store, outcome="refused")] == ["U1", "U2"]
    assert [r["outcome"] for r in search(store, actor="U1")] == ["refused", "ok"]
    assert len(search(store, limit=1)) == 1
