"""The audit log: every command and click, who asked, where, and how it ended.

Refusals and errors are recorded as faithfully as successes; an auditor's
first question after an incident is usually "who tried what and was refused".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.clock import Clock, isoformat
from services.store import Store


class Outcome(StrEnum):
    OK = "ok"
    ACCEPTED = "accepted"  # acknowledged; the work continues on the worker
    USAGE_ERROR = "usage_error"
    REFUSED = "refused"
    FAILED = "failed"
    ERROR = "error"  # a bug: an unexpected exception
    FORGED = "forged"  # a request whose Slack signature did not verify


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    source: str
    action: str
    outcome: Outcome
    detail: str = ""
    team_id: str | None = None
    channel_id: str | None = None


def record(store: Store, *, clock: Clock, entry: AuditEntry) -> None:
    store.conn.execute(
        "INSERT INTO audit (at, actor, team_id, channel_id, source, action, outcome, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            isoformat(clock.now()),
            entry.actor,
            entry.team_id,
            entry.channel_id,
            entry.source,
            entry.action,
            entry.outcome.value,
            entry.detail[:2000],
        ),
    )


def search(
    store: Store,
    *,
    actor: str | None = None,
    outcome: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
    before_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest entries first, optionally of one actor or one outcome, older than a point."""
    return store.query(
        "SELECT * FROM audit WHERE (:actor IS NULL OR actor = :actor)"
        " AND (:outcome IS NULL OR outcome = :outcome)"
        " AND (:before_id IS NULL OR id < :before_id)"
        " AND (:before_at IS NULL OR at < :before_at)"
        " ORDER BY id DESC LIMIT :limit",
        {
            "actor": actor,
            "outcome": outcome,
            "limit": limit,
            "before_id": before_id,
            # `at` is stored by isoformat (UTC, fixed width): text order is time order.
            "before_at": isoformat(before_at) if before_at is not None else None,
        },
    )


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict[str, Any]]
    older_than: int | None  # the id to page on from (`--before`), when older entries exist


def page(
    store: Store,
    *,
    actor: str | None = None,
    outcome: str | None = None,
    limit: int,
    before_id: int | None = None,
    before_at: datetime | None = None,
) -> AuditPage:
    """One page of `limit` entries, and where the next (older) page starts, if there is one."""
    rows = search(
        store,
        actor=actor,
        outcome=outcome,
        limit=limit + 1,
        before_id=before_id,
        before_at=before_at,
    )
    shown = rows[:limit]
    more = len(rows) > limit
    return AuditPage(shown, int(shown[-1]["id"]) if more and shown else None)
