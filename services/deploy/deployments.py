"""Deployment rows: every transition is a compare-and-set, every step recorded before and after."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services import timeline
from services.clock import Clock, isoformat
from services.deploy.model import FINAL, Deployment, Kind, State
from services.errors import ConflictError, NotFoundError
from services.metrics import DEPLOYMENTS
from services.store import Store

DEPLOYMENT_ID = re.compile(r"DEP-[0-9]{1,9}")


@dataclass(frozen=True)
class NewDeployment:
    kind: Kind
    incident_id: str | None
    service: str
    environment: str
    version: str
    strategy: str
    backend: str
    requested_by: str
    channel_id: str | None
    approvals_required: int
    expires_at: datetime | None
    break_glass: bool
    verify: bool
    notify_stakeholders: bool
    before: dict[str, Any]
    request_key: str | None
    # What the request said beyond the columns (what was inferred, --preserve-data): kept in
    # `detail` for the card, and on the `*_requested` timeline row.
    detail: dict[str, Any] = field(default_factory=dict)


def create(store: Store, *, clock: Clock, new: NewDeployment) -> tuple[Deployment, bool]:
    now = clock.now()
    with store.transaction() as conn:
        if new.request_key is not None:
            row = conn.execute(
                "SELECT * FROM deployments WHERE request_key = ?", (new.request_key,)
            ).fetchone()
            if row is not None:
                return Deployment.from_row(dict(row)), False
        number = conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM deployments").fetchone()[0]
        deployment_id = f"DEP-{number}"
        conn.execute(
            "INSERT INTO deployments (number, id, kind, incident_id, service, environment, version,"
            " strategy, backend, state, requested_by, requested_at, channel_id, approvals_required,"
            " expires_at, break_glass, verify, notify_stakeholders, before, request_key, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                deployment_id,
                new.kind.value,
                new.incident_id,
                new.service,
                new.environment,
                new.version,
                new.strategy,
                new.backend,
                State.REQUESTED.value,
                new.requested_by,
                isoformat(now),
                new.channel_id,
                new.approvals_required,
                isoformat(new.expires_at) if new.expires_at else None,
                int(new.break_glass),
                int(new.verify),
                int(new.notify_stakeholders),
                json.dumps(new.before, sort_keys=True),
                new.request_key,
                json.dumps(new.detail, sort_keys=True),
            ),
        )
        what = "Rollback" if new.kind is Kind.ROLLBACK else "Deployment"
        timeline.append(
            store,
            clock=clock,
            incident_id=new.incident_id,
            actor=new.requested_by,
            kind=f"{new.kind.value}_requested",
            text=f"{what} {deployment_id} requested: {new.service} {new.version} to {new.environment}"
            + (" (BREAK-GLASS)" if new.break_glass else ""),
            data={
                "deployment_id": deployment_id,
                "service": new.service,
                "environment": new.environment,
                "version": new.version,
                "strategy": new.strategy,
                "before": new.before,
                "approvals_required": new.approvals_required,
                "break_glass": new.break_glass,
                **new.detail,
            },
            at=now,
        )
    return get(store, deployment_id), True


def by_request_key(store: Store, request_key: str | None) -> Deployment | None:
    if request_key is None:
        return None
    row = store.query_one("SELECT * FROM deployments WHERE request_key = ?", (request_key,))
    return Deployment.from_row(row) if row else None


def get(store: Store, deployment_id: str) -> Deployment:
    if not DEPLOYMENT_ID.fullmatch(deployment_id.upper()):
        # Not echoed: the text came from a person and may be anything (mentions, 10 KB).
        raise NotFoundError("That is not a deployment id.", hint="Deployment ids look like DEP-12.")
    row = store.query_one("SELECT * FROM deployments WHERE id = ?", (deployment_id.upper(),))
    if row is None:
        raise NotFoundError(
            f"There is no deployment {deployment_id}.", hint="Deployment ids look like DEP-12."
        )
    return Deployment.from_row(row)


def in_states(store: Store, states: frozenset[State] | set[State]) -> list[Deployment]:
    marks = ", ".join("?" for _ in states)
    rows = store.query(
        f"SELECT * FROM deployments WHERE state IN ({marks}) ORDER BY number",  # noqa: S608 - placeholders only
        tuple(s.value for s in states),
    )
    return [Deployment.from_row(r) for r in rows]


def listing(
    store: Store,
    *,
    service: str | None = None,
    environment: str | None = None,
    states: frozenset[State] | None = None,
    before: int | None = None,
    limit: int = 20,
) -> list[Deployment]:
    """The newest deployments matching the filters (all given ones), newest first; `before`:
    only those numbered below it (the next page). One row more than `limit` tells the caller
    there is another page."""
    where: list[str] = ["1 = 1"]
    args: list[object] = []
    for column, value in (("service", service), ("environment", environment)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if states is not None:
        where.append(f"state IN ({', '.join('?' for _ in states)})")
        args += sorted(s.value for s in states)
    if before is not None:
        where.append("number < ?")
        args.append(before)
    rows = store.query(
        f"SELECT * FROM deployments WHERE {' AND '.join(where)}"  # noqa: S608 - placeholders only
        " ORDER BY number DESC LIMIT ?",
        (*args, limit),
    )
    return [Deployment.from_row(r) for r in rows]


def latest_for_target(
    store: Store, service: str, environment: str, *, states: set[State]
) -> Deployment | None:
    marks = ", ".join("?" for _ in states)
    row = store.query_one(
        f"SELECT * FROM deployments WHERE service = ? AND environment = ? AND state IN ({marks})"  # noqa: S608
        " ORDER BY number DESC LIMIT 1",
        (service, environment, *(s.value for s in states)),
    )
    return Deployment.from_row(row) if row else None


def transition(
    store: Store,
    *,
    clock: Clock,
    deployment: Deployment,
    to: State,
    actor: str,
    text: str,
    data: dict[str, Any] | None = None,
    expect: State | None = None,
) -> Deployment:
    """Move to `to` only from the state we believe it is in; a lost race raises ConflictError."""
    now = clock.now()
    source = expect or deployment.state
    with store.transaction() as conn:
        finished = isoformat(now) if to in FINAL else None
        cursor = conn.execute(
            "UPDATE deployments SET state = ?, finished_at = COALESCE(?, finished_at) WHERE id = ? AND state = ?",
            (to.value, finished, deployment.id, source.value),
        )
        if cursor.rowcount == 1 and finished is not None:
            DEPLOYMENTS.labels(deployment.strategy, to.value).inc()
        if cursor.rowcount != 1:
            raise ConflictError(
                f"{deployment.id} is no longer {source.label.lower()}; nothing was done.",
                hint="Someone (or a retry) got there first. The deployment card shows where it is.",
            )
        timeline.append(
            store,
            clock=clock,
            incident_id=deployment.incident_id,
            actor=actor,
            kind=f"deploy_{to.value}",
            text=f"{deployment.id}: {text}",
            data={
                "deployment_id": deployment.id,
                "state": {"old": source.value, "new": to.value},
                **(data or {}),
            },
            at=now,
        )
    return get(store, deployment.id)


def merge_detail(store: Store, deployment_id: str, **values: Any) -> None:
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT detail FROM deployments WHERE id = ?", (deployment_id,)
        ).fetchone()
        detail = json.loads(row[0]) if row else {}
        detail.update(values)
        conn.execute(
            "UPDATE deployments SET detail = ? WHERE id = ?",
            (json.dumps(detail, sort_keys=True, default=str), deployment_id),
        )


def set_card(store: Store, deployment_id: str, *, channel_id: str, ts: str) -> None:
    store.conn.execute(
        "UPDATE deployments SET channel_id = ?, card_ts = ? WHERE id = ? AND card_ts IS NULL",
        (channel_id, ts, deployment_id),
    )


def request_abort(store: Store, deployment_id: str) -> bool:
    cursor = store.conn.execute(
        "UPDATE deployments SET abort_requested = 1 WHERE id = ? AND abort_requested = 0",
        (deployment_id,),
    )
    return cursor.rowcount == 1


# -- approvals --------------------------------------------------------------------


def add_decision(
    store: Store, *, clock: Clock, deployment: Deployment, approver: str, decision: str
) -> bool:
    """Record one person's decision once; a double click or retry records nothing new."""
    try:
        store.conn.execute(
            "INSERT INTO approvals (deployment_id, approver, decision, at) VALUES (?, ?, ?, ?)",
            (deployment.id, approver, decision, isoformat(clock.now())),
        )
    except sqlite3.IntegrityError:
        return False
    return True


def decisions(store: Store, deployment_id: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT approver, decision, at FROM approvals WHERE deployment_id = ? ORDER BY at, approver",
        (deployment_id,),
    )


# -- steps ------------------------------------------------------------------------


def step_started(store: Store, *, clock: Clock, deployment_id: str, step: str) -> None:
    store.conn.execute(
        "INSERT INTO deploy_steps (deployment_id, step, state, started_at) VALUES (?, ?, 'running', ?)"
        " ON CONFLICT (deployment_id, step) DO UPDATE SET state = 'running', started_at = excluded.started_at,"
        " finished_at = NULL",
        (deployment_id, step, isoformat(clock.now())),
    )


def step_finished(
    store: Store,
    *,
    clock: Clock,
    deployment: Deployment,
    step: str,
    ok: bool,
    detail: str = "",
    skipped: bool = False,
    output: str | None = None,
) -> None:
    """Record the step's end, and put it on the timeline: the postmortem names each step
    (each check) and its result. `detail`'s first line is the outcome, the rest the last
    lines of its output; `output` is the whole output, when there is one."""
    state = "skipped" if skipped else "ok" if ok else "failed"
    summary, _, tail = detail.partition("\n")
    output = tail if output is None else output
    with store.transaction() as conn:
        conn.execute(
            "UPDATE deploy_steps SET state = ?, finished_at = ?, detail = ?"
            " WHERE deployment_id = ? AND step = ?",
            (state, isoformat(clock.now()), detail[:4000], deployment.id, step),
        )
        timeline.append(
            store,
            clock=clock,
            incident_id=deployment.incident_id,
            actor=timeline.BOT_ACTOR,
            kind="deploy_step",
            text=f"{deployment.id} {step} {state}: {summary}",
            data={"deployment_id": deployment.id, "step": step, "result": state, "output": output},
        )


def steps(store: Store, deployment_id: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT step, state, started_at, finished_at, detail FROM deploy_steps WHERE deployment_id = ?"
        " ORDER BY started_at, rowid",
        (deployment_id,),
    )


FINAL_STATES = frozenset(state.value for state in FINAL)
_HOLDER = (
    "SELECT l.*, d.state AS holder_state FROM target_locks l"
    " LEFT JOIN deployments d ON d.id = l.deployment_id WHERE l.target = ?"
)


# -- locks ------------------------------------------------------------------------


def acquire_lock(
    store: Store, *, clock: Clock, deployment: Deployment, holder: str
) -> dict[str, Any] | None:
    """Take the target's lock; return the current holder instead when someone else has it.

    A lock whose deployment has finished is stale (the bot died between recording the
    end and releasing the lock) and is taken over: a finished deployment holds nothing.
    """
    with store.transaction() as conn:
        row = conn.execute(_HOLDER, (deployment.target,)).fetchone()
        if row is not None:
            if row["deployment_id"] == deployment.id:
                return None
            current = lock_holder(store, deployment.target)
            if current is not None:
                return current
            conn.execute("DELETE FROM target_locks WHERE target = ?", (deployment.target,))
        conn.execute(
            "INSERT INTO target_locks (target, deployment_id, held_by, since) VALUES (?, ?, ?, ?)",
            (deployment.target, deployment.id, holder, isoformat(clock.now())),
        )
    return None


def lock_holder(store: Store, target: str) -> dict[str, Any] | None:
    """Who holds the target; a lock left by a finished deployment holds nothing."""
    row = store.query_one(_HOLDER, (target,))
    if row is None or row["holder_state"] in FINAL_STATES:
        return None
    return {k: row[k] for k in ("target", "deployment_id", "held_by", "since")}


def release_lock(store: Store, deployment: Deployment) -> None:
    store.conn.execute(
        "DELETE FROM target_locks WHERE target = ? AND deployment_id = ?",
        (deployment.target, deployment.id),
    )
