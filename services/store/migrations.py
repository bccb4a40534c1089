"""Forward-only schema migrations.

Each migration runs in its own immediate transaction together with the row
that records it, so a crash mid-migration leaves the previous version intact
and a re-run applies exactly what is missing. Never edit a released
migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from services.clock import Clock, isoformat
from services.store.database import Store, StoreError


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "timeline and audit",
        """
        CREATE TABLE timeline (
            id INTEGER PRIMARY KEY,
            incident_id TEXT,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}',
            dedup_key TEXT UNIQUE
        );
        CREATE INDEX timeline_by_incident ON timeline (incident_id, at, id);
        CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline
            BEGIN SELECT RAISE(ABORT, 'the timeline is append-only'); END;
        CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline
            BEGIN SELECT RAISE(ABORT, 'the timeline is append-only'); END;

        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            team_id TEXT,
            channel_id TEXT,
            source TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_by_time ON audit (at);
        """,
    ),
    Migration(
        2,
        "incidents, action items, playbook items",
        """
        CREATE TABLE incidents (
            number INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            status TEXT NOT NULL,
            impact TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            commander TEXT,
            scribe TEXT,
            comms TEXT,
            declared_by TEXT NOT NULL,
            origin_channel_id TEXT,
            channel_id TEXT UNIQUE,
            channel_name TEXT,
            header_ts TEXT,
            announcement_channel_id TEXT,
            announcement_ts TEXT,
            playbook_ts TEXT,
            eta TEXT,
            root_cause TEXT,
            declared_at TEXT NOT NULL,
            acknowledged_at TEXT,
            mitigated_at TEXT,
            resolved_at TEXT,
            next_update_due_at TEXT,
            reminders_missed INTEGER NOT NULL DEFAULT 0,
            last_update_at TEXT,
            postmortem_due_at TEXT,
            postmortem_reminded_at TEXT,
            request_key TEXT UNIQUE
        );
        CREATE INDEX incidents_due ON incidents (status, next_update_due_at);

        CREATE TABLE action_items (
            id INTEGER PRIMARY KEY,
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            text TEXT NOT NULL,
            owner TEXT,
            created_at TEXT NOT NULL
        );

        CREATE TABLE playbook_items (
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            item_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            phase TEXT NOT NULL,
            text TEXT NOT NULL,
            done_by TEXT,
            done_at TEXT,
            PRIMARY KEY (incident_id, item_id)
        );
        """,
    ),
    Migration(
        3,
        "deployments, approvals, deploy steps, target locks",
        """
        CREATE TABLE deployments (
            number INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            incident_id TEXT,
            service TEXT NOT NULL,
            environment TEXT NOT NULL,
            version TEXT NOT NULL,
            strategy TEXT NOT NULL,
            backend TEXT NOT NULL,
            state TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            channel_id TEXT,
            card_ts TEXT,
            approvals_required INTEGER NOT NULL,
            expires_at TEXT,
            break_glass INTEGER NOT NULL DEFAULT 0,
            verify INTEGER NOT NULL DEFAULT 1,
            notify_stakeholders INTEGER NOT NULL DEFAULT 0,
            before TEXT NOT NULL DEFAULT '{}',
            detail TEXT NOT NULL DEFAULT '{}',
            abort_requested INTEGER NOT NULL DEFAULT 0,
            finished_at TEXT,
            request_key TEXT UNIQUE
        );
        CREATE INDEX deployments_by_state ON deployments (state);

        CREATE TABLE approvals (
            deployment_id TEXT NOT NULL REFERENCES deployments (id),
            approver TEXT NOT NULL,
            decision TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (deployment_id, approver)
        );

        CREATE TABLE deploy_steps (
            deployment_id TEXT NOT NULL REFERENCES deployments (id),
            step TEXT NOT NULL,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            detail TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (deployment_id, step)
        );

        CREATE TABLE target_locks (
            target TEXT PRIMARY KEY,
            deployment_id TEXT NOT NULL,
            held_by TEXT NOT NULL,
            since TEXT NOT NULL
        );
        """,
    ),
    Migration(
        4,
        "war room bookmarks mark",
        """
        ALTER TABLE incidents ADD COLUMN bookmarks_added_at TEXT;
        """,
    ),
    Migration(
        5,
        "canary controls",
        # canary_paused: 0 running, 1 paused by a person, 2 waiting for a decision
        # (inconclusive analysis). canary_promote: someone pressed Promote.
        """
        ALTER TABLE deployments ADD COLUMN canary_paused INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE deployments ADD COLUMN canary_pause_reason TEXT;
        ALTER TABLE deployments ADD COLUMN canary_promote INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    Migration(
        6,
        "outbox for messages Slack could not take",
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            channel_id TEXT NOT NULL,
            op TEXT NOT NULL,
            ts TEXT,
            thread_ts TEXT,
            broadcast INTEGER NOT NULL DEFAULT 0,
            template TEXT NOT NULL,
            data TEXT NOT NULL,
            queued_at TEXT NOT NULL,
            sent_at TEXT,
            sent_ts TEXT,
            error TEXT
        );
        CREATE INDEX outbox_unsent ON outbox (sent_at, channel_id, id);
        """,
    ),
    Migration(
        7,
        "crash recovery: war room progress and the command journal",
        # channel_pending: the war room name asked of Slack before its id came back, so a
        # crash in between adopts that channel instead of opening a second one.
        # war_room_done_at: the opening flow ran to its end; open incidents without it are
        # resumed on start. Incidents from before this migration count as done.
        """
        ALTER TABLE incidents ADD COLUMN channel_pending TEXT;
        ALTER TABLE incidents ADD COLUMN war_room_done_at TEXT;
        UPDATE incidents SET war_room_done_at = declared_at;
        CREATE TABLE command_journal (
            request_key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            accepted_at TEXT NOT NULL,
            replays INTEGER NOT NULL DEFAULT 0,
            finished_at TEXT,
            outcome TEXT
        );
        CREATE INDEX command_journal_open ON command_journal (finished_at, accepted_at);
        """,
    ),
    Migration(
        8,
        "a change counter for incidents",
        # Bumped by every write to incidents, from any connection or process: readers
        # that derive data from the incidents (the incident list) reuse it while the
        # counter stands still, instead of reading every row again.
        """
        CREATE TABLE incidents_changes (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            n INTEGER NOT NULL
        );
        INSERT INTO incidents_changes (id, n) VALUES (1, 0);
        CREATE TRIGGER incidents_changes_insert AFTER INSERT ON incidents
            BEGIN UPDATE incidents_changes SET n = n + 1 WHERE id = 1; END;
        CREATE TRIGGER incidents_changes_update AFTER UPDATE ON incidents
            BEGIN UPDATE incidents_changes SET n = n + 1 WHERE id = 1; END;
        CREATE TRIGGER incidents_changes_delete AFTER DELETE ON incidents
            BEGIN UPDATE incidents_changes SET n = n + 1 WHERE id = 1; END;
        """,
    ),
    Migration(
        9,
        "the outbox keeps each post's message key",
        # A post sent later must carry the key a resumed flow looks for (Message.key).
        "ALTER TABLE outbox ADD COLUMN message_key TEXT;",
    ),
    Migration(
        10,
        "deliveries beyond Slack: status page, paging, email",
        # deliveries: the durable queue of everything sent outside Slack (services/comms).
        # dedup_key is unique: a replayed request or a resumed flow plans the same
        # delivery again and the insert is ignored. state: queued -> sending -> sent, or
        # failed; `sending` found on start means the bot stopped mid-call, and the channel
        # looks for its effect before sending again. checkpoint: a channel's own progress
        # inside one call (an email's "sealed": every byte but the final dot was sent).
        # incident_links: what an incident is called elsewhere (the status page incident,
        # the email thread's Message-ID, the PagerDuty alert).
        # incidents.services: the affected services (JSON list), for status page components.
        """
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            incident_id TEXT,
            channel TEXT NOT NULL,
            action TEXT NOT NULL,
            audience TEXT,
            payload TEXT NOT NULL,
            dedup_key TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL DEFAULT 'queued',
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before TEXT,
            checkpoint TEXT,
            queued_at TEXT NOT NULL,
            sending_at TEXT,
            finished_at TEXT,
            result TEXT,
            error TEXT
        );
        CREATE INDEX deliveries_open ON deliveries (state, channel, id);
        CREATE TABLE incident_links (
            incident_id TEXT NOT NULL,
            system TEXT NOT NULL,
            external_id TEXT NOT NULL,
            url TEXT,
            data TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            PRIMARY KEY (incident_id, system)
        );
        ALTER TABLE incidents ADD COLUMN services TEXT NOT NULL DEFAULT '[]';
        """,
    ),
    Migration(
        11,
        "incidents keep their call link",
        # Filled in from `incidents.call_link` when declared: a link people have joined stays
        # the incident's link even if the configuration changes meanwhile.
        "ALTER TABLE incidents ADD COLUMN call_link TEXT;",
    ),
    Migration(
        12,
        "a refused delivery is told in the war room once",
        # Set by whoever tells it first: the dispatcher as it fails (the war room exists), or
        # the war room's opening flow (it failed before the room existed).
        "ALTER TABLE deliveries ADD COLUMN told_at TEXT;",
    ),
    Migration(
        13,
        "validate and verify runs",
        # One row per /hotfix validate (VAL-n) or /hotfix verify (VER-n): what was checked,
        # its outcome, and the live card. The promotion gate reads the passed ones.
        """
        CREATE TABLE pipeline_runs (
            number INTEGER NOT NULL,
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            service TEXT NOT NULL,
            environment TEXT NOT NULL,
            version TEXT,
            name TEXT NOT NULL,
            state TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            incident_id TEXT,
            channel_id TEXT,
            card_ts TEXT,
            request_key TEXT UNIQUE,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            detail TEXT NOT NULL DEFAULT '{}',
            UNIQUE (kind, number)
        );
        CREATE INDEX pipeline_runs_passed
            ON pipeline_runs (kind, service, environment, version, state);
        """,
    ),
    Migration(
        14,
        "CI runs and the messages that show them",
        # ci_runs: the newest state of each CI run a webhook reported (services/ci/runs.py);
        # rank orders two states of one moment (queued < running < finished).
        # ci_watches: a war-room message that shows the CI of a branch or a release tag, with
        # what it was posted with, so it can be edited again as runs arrive.
        """
        CREATE TABLE ci_runs (
            provider TEXT NOT NULL,
            repository TEXT NOT NULL,
            run_id TEXT NOT NULL,
            service TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            name TEXT NOT NULL,
            head_sha TEXT NOT NULL,
            head_branch TEXT,
            tag TEXT,
            status TEXT NOT NULL,
            conclusion TEXT,
            outcome TEXT NOT NULL,
            url TEXT,
            updated_at TEXT NOT NULL,
            rank INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (provider, repository, run_id)
        );
        CREATE INDEX ci_runs_by_sha ON ci_runs (service, head_sha);
        CREATE INDEX ci_runs_by_branch ON ci_runs (service, head_branch);
        CREATE TABLE ci_watches (
            id INTEGER PRIMARY KEY,
            service TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            template TEXT NOT NULL,
            data TEXT NOT NULL,
            branch TEXT,
            tag TEXT,
            sha TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX ci_watches_by_service ON ci_watches (service);
        """,
    ),
)


def _ensure_version_table(store: Store) -> None:
    store.conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )


def current_version(store: Store) -> int:
    _ensure_version_table(store)
    row = store.query_one("SELECT MAX(version) AS v FROM schema_migrations")
    return int(row["v"]) if row and row["v"] is not None else 0


def pending(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[Migration]:
    version = current_version(store)
    known = max((m.version for m in migrations), default=0)
    if version > known:
        raise StoreError(
            f"The database {store.path} is at schema version {version}, "
            f"newer than this hotfix-bot knows ({known}).",
            hint="Run the newer hotfix-bot release, or restore a backup taken before the upgrade.",
        )
    return [m for m in migrations if m.version > version]


def migrate(
    store: Store, *, clock: Clock, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[Migration]:
    """Apply every pending migration; return the ones applied (none on a re-run)."""
    applied: list[Migration] = []
    for migration in pending(store, migrations):
        with store.transaction() as conn:
            # Another process may have applied it while we waited for the lock.
            already = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if already:
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, isoformat(clock.now())),
            )
        applied.append(migration)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if buffer.strip() and sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
