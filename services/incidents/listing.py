"""The open incidents as template data, rebuilt only when it would come out different.

`/hotfix incident list` is asked far more often than incidents change. Building
its data (all open rows -> Incident -> dict, with ages) costs ~1-2 ms for 50
incidents; reading the incidents' change counter (bumped by a trigger on every
write, migration 8) costs a few microseconds. So a snapshot of the data is
reused while the counter stands still and no incident's age (shown in whole
minutes, the only part that depends on the time) has ticked over.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.incidents import records
from services.incidents.presenting import incident_data
from services.store import Store

CHANGES = "SELECT n FROM incidents_changes WHERE id = 1"
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
KEEP = 4  # snapshots kept: enough for a clock that moves back and forth in tests

_versions = itertools.count(1)  # one number per distinct data, process-wide: a render-cache key


@dataclass(frozen=True)
class OpenIncidents:
    """One snapshot: `version` names its data, `incidents` is shared and must not be changed."""

    version: int
    incidents: list[dict[str, Any]]
    changes: int | None  # the counter the rows were read at (None: no counter, never reused)
    valid_from: datetime  # the data is exact for `now` in [valid_from, valid_until)
    valid_until: datetime

    def fits(self, changes: int | None, now: datetime) -> bool:
        return (
            changes is not None
            and changes == self.changes
            and self.valid_from <= now < self.valid_until
        )


class OpenIncidentsView:
    """The open incidents of a store as `incident_data` dicts, memoised by change counter."""

    def __init__(self) -> None:
        self._snapshots: list[OpenIncidents] = []
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()

    def get(self, store: Store, *, now: datetime) -> OpenIncidents:
        found = self._find(_changes(store.conn), now)
        if found is not None:
            return found
        # One build at a time: builds are CPU work under the GIL, so requests that miss
        # together wait for the first one's snapshot instead of each building their own.
        with self._build_lock:
            found = self._find(_changes(store.conn), now)
            if found is not None:
                return found
            snapshot = self._build(store, now)
            with self._lock:
                self._snapshots = [snapshot, *self._snapshots[: KEEP - 1]]
            return snapshot

    def _find(self, changes: int | None, now: datetime) -> OpenIncidents | None:
        with self._lock:
            for snapshot in self._snapshots:
                if snapshot.fits(changes, now):
                    return snapshot
        return None

    def _build(self, store: Store, now: datetime) -> OpenIncidents:
        conn = store.conn
        # The counter and the rows from one read transaction, so they belong together.
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            changes = _changes(conn)
            incidents = records.open_incidents(store)
        except BaseException:
            if own:
                conn.execute("ROLLBACK")
            raise
        if own:
            conn.execute("COMMIT")
        # Ages are whole minutes since each declaration: the data holds from the last time
        # one ticked over until the next.
        phases = [(now - incident.declared_at) % MINUTE for incident in incidents]
        valid_from = now - min(phases, default=DAY)
        valid_until = now + MINUTE - max(phases, default=-DAY)
        data = [incident_data(incident, now=now) for incident in incidents]
        # Most writes (message timestamps, war-room progress) change nothing shown: the
        # same data keeps its version, and with it the rendered message.
        with self._lock:
            same = next((s for s in self._snapshots if s.incidents == data), None)
        return OpenIncidents(
            version=same.version if same is not None else next(_versions),
            incidents=same.incidents if same is not None else data,
            changes=changes,
            valid_from=valid_from,
            valid_until=valid_until,
        )


def _changes(conn: sqlite3.Connection) -> int | None:
    try:
        row = conn.execute(CHANGES).fetchone()
    except sqlite3.OperationalError:  # a store from before migration 8: no reuse
        return None
    return int(row[0]) if row is not None else None
