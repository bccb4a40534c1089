"""Stored validate and verify runs (`pipeline_runs`): one row per run, finished once.

A run is created `running`, its live detail (each check's or sample's state) merged in as
it goes, and finished exactly once by a compare-and-set from `running` to `passed` or
`failed` (a replayed request finds the row by its request key and runs nothing). A run
found `running` after a restart is marked `interrupted`: it never passed. The promotion
gate (services.deploy.promotion) reads `latest_passed`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from services import timeline
from services.clock import Clock, isoformat, parse_iso
from services.errors import ConflictError, NotFoundError
from services.store import Store


class RunKind(StrEnum):
    VALIDATE = "validate"
    VERIFY = "verify"

    @property
    def prefix(self) -> str:
        return "VAL" if self is RunKind.VALIDATE else "VER"


class RunState(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # found running after a restart: it never finished


RUN_ID = re.compile(r"(VAL|VER)-[0-9]{1,9}")


@dataclass(frozen=True)
class PipelineRun:
    number: int
    id: str
    kind: RunKind
    service: str
    environment: str
    version: str | None  # validate: the version checked; verify: what ran when it started
    name: str  # the suite (validate) or the endpoint group (verify)
    state: RunState
    requested_by: str
    incident_id: str | None
    channel_id: str | None
    card_ts: str | None
    started_at: datetime
    finished_at: datetime | None
    detail: dict[str, Any]

    @property
    def target(self) -> str:
        return f"{self.service}/{self.environment}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PipelineRun:
        return cls(
            number=int(row["number"]),
            id=row["id"],
            kind=RunKind(row["kind"]),
            service=row["service"],
            environment=row["environment"],
            version=row["version"],
            name=row["name"],
            state=RunState(row["state"]),
            requested_by=row["requested_by"],
            incident_id=row["incident_id"],
            channel_id=row["channel_id"],
            card_ts=row["card_ts"],
            started_at=parse_iso(row["started_at"]),
            finished_at=parse_iso(row["finished_at"]) if row["finished_at"] else None,
            detail=json.loads(row["detail"]),
        )


@dataclass(frozen=True)
class NewRun:
    kind: RunKind
    service: str
    environment: str
    version: str | None
    name: str
    requested_by: str
    incident_id: str | None
    channel_id: str | None
    request_key: str | None
    detail: dict[str, Any] = field(default_factory=dict)


def create(store: Store, *, clock: Clock, new: NewRun) -> tuple[PipelineRun, bool]:
    """(the run, created?): a request key already recorded returns that run, not a new one."""
    now = clock.now()
    with store.transaction() as conn:
        if new.request_key is not None:
            row = conn.execute(
                "SELECT * FROM pipeline_runs WHERE request_key = ?", (new.request_key,)
            ).fetchone()
            if row is not None:
                return PipelineRun.from_row(dict(row)), False
        number = conn.execute(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM pipeline_runs WHERE kind = ?",
            (new.kind.value,),
        ).fetchone()[0]
        run_id = f"{new.kind.prefix}-{number}"
        conn.execute(
            "INSERT INTO pipeline_runs (number, id, kind, service, environment, version, name,"
            " state, requested_by, incident_id, channel_id, request_key, started_at, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                run_id,
                new.kind.value,
                new.service,
                new.environment,
                new.version,
                new.name,
                RunState.RUNNING.value,
                new.requested_by,
                new.incident_id,
                new.channel_id,
                new.request_key,
                isoformat(now),
                json.dumps(new.detail, sort_keys=True),
            ),
        )
        timeline.append(
            store,
            clock=clock,
            incident_id=new.incident_id,
            actor=new.requested_by,
            kind=f"{new.kind.value}_started",
            text=f"{run_id}: {new.kind.value} {new.name} on {new.service}/{new.environment}"
            + (f" ({new.version})" if new.version else ""),
            data={
                "run_id": run_id,
                "service": new.service,
                "environment": new.environment,
                "version": new.version,
                "name": new.name,
            },
            at=now,
        )
    return get(store, run_id), True


def get(store: Store, run_id: str) -> PipelineRun:
    if not RUN_ID.fullmatch(run_id.upper()):
        raise NotFoundError(
            "That is not a validate or verify run id.", hint="They look like VAL-3 or VER-7."
        )
    row = store.query_one("SELECT * FROM pipeline_runs WHERE id = ?", (run_id.upper(),))
    if row is None:
        raise NotFoundError(f"There is no {run_id.upper()}.")
    return PipelineRun.from_row(row)


def merge_detail(store: Store, run_id: str, **detail: Any) -> PipelineRun:
    """Merge live progress into the run's detail (top-level keys replaced)."""
    with store.transaction() as conn:
        row = conn.execute("SELECT detail FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no {run_id}.")
        merged = {**json.loads(row["detail"]), **detail}
        conn.execute(
            "UPDATE pipeline_runs SET detail = ? WHERE id = ?",
            (json.dumps(merged, sort_keys=True), run_id),
        )
    return get(store, run_id)


def set_card(store: Store, run_id: str, *, channel_id: str, card_ts: str) -> None:
    store.query(
        "UPDATE pipeline_runs SET channel_id = ?, card_ts = ? WHERE id = ?",
        (channel_id, card_ts, run_id),
    )


def finish(
    store: Store,
    *,
    clock: Clock,
    run_id: str,
    passed: bool,
    summary: str,
    actor: str = timeline.BOT_ACTOR,
    **detail: Any,
) -> PipelineRun:
    """running → passed / failed, once; the outcome goes on the timeline in the same
    transaction. A second finish (a replay, a race) raises ConflictError."""
    now = clock.now()
    state = RunState.PASSED if passed else RunState.FAILED
    with store.transaction() as conn:
        row = conn.execute("SELECT * FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no {run_id}.")
        run = PipelineRun.from_row(dict(row))
        if run.state is not RunState.RUNNING:
            raise ConflictError(f"{run_id} already {run.state.value}.")
        merged = {**run.detail, **detail, "summary": summary}
        conn.execute(
            "UPDATE pipeline_runs SET state = ?, finished_at = ?, detail = ?"
            " WHERE id = ? AND state = ?",
            (
                state.value,
                isoformat(now),
                json.dumps(merged, sort_keys=True),
                run_id,
                RunState.RUNNING.value,
            ),
        )
        timeline.append(
            store,
            clock=clock,
            incident_id=run.incident_id,
            actor=actor,
            kind=f"{run.kind.value}_{state.value}",
            text=f"{run_id}: {run.kind.value} {run.name} on {run.target} {state.value}: {summary}",
            data={
                "run_id": run_id,
                "service": run.service,
                "environment": run.environment,
                "version": run.version,
                "name": run.name,
                "summary": summary,
            },
            at=now,
        )
    return get(store, run_id)


def latest_passed(
    store: Store, *, kind: RunKind, service: str, environment: str, version: str
) -> PipelineRun | None:
    return newest(
        store,
        kind=kind,
        service=service,
        environment=environment,
        version=version,
        states=(RunState.PASSED,),
    )


def newest(
    store: Store,
    *,
    kind: RunKind,
    service: str,
    environment: str,
    version: str,
    states: tuple[RunState, ...],
    since: datetime | None = None,
) -> PipelineRun | None:
    """The newest run of `version` there in one of `states` (started at `since` or later)."""
    marks = ", ".join("?" for _ in states)  # placeholders only: the values are parameters
    sql = (
        "SELECT * FROM pipeline_runs WHERE kind = ? AND service = ? AND environment = ?"  # noqa: S608
        f" AND version = ? AND state IN ({marks}) AND started_at >= ?"
        " ORDER BY number DESC LIMIT 1"
    )
    row = store.query_one(
        sql,
        (
            kind.value,
            service,
            environment,
            version,
            *(state.value for state in states),
            isoformat(since) if since else "",
        ),
    )
    return PipelineRun.from_row(row) if row else None


def interrupt_running(store: Store, *, clock: Clock) -> list[PipelineRun]:
    """After a restart: every run still `running` died with the old process."""
    rows = store.query("SELECT * FROM pipeline_runs WHERE state = ?", (RunState.RUNNING.value,))
    interrupted = []
    for row in rows:
        run = PipelineRun.from_row(row)
        with store.transaction() as conn:
            changed = conn.execute(
                "UPDATE pipeline_runs SET state = ?, finished_at = ? WHERE id = ? AND state = ?",
                (
                    RunState.INTERRUPTED.value,
                    isoformat(clock.now()),
                    run.id,
                    RunState.RUNNING.value,
                ),
            ).rowcount
            if changed:
                timeline.append(
                    store,
                    clock=clock,
                    incident_id=run.incident_id,
                    actor=timeline.BOT_ACTOR,
                    kind=f"{run.kind.value}_interrupted",
                    text=f"{run.id}: interrupted by a restart of the bot; run it again",
                    data={"run_id": run.id},
                )
                interrupted.append(run)
    return interrupted
