"""Stored CI runs: one row per run, the newest state of each, and a commit's verdict.

GitHub retries a delivery that timed out, people redeliver by hand, and deliveries can
arrive out of order: a row is only ever replaced by a newer state of its run (a later
attempt, then a later update time, then a later state of the same moment), so an old
"in progress" never hides a newer "failure".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.ci.model import CiRun, Outcome, Provider
from services.clock import Clock, isoformat, parse_iso
from services.settings import Settings
from services.store import Store


@dataclass(frozen=True)
class StoredRun:
    service: str
    provider: str
    run_id: str
    name: str
    head_sha: str
    head_branch: str | None
    tag: str | None
    outcome: Outcome
    url: str | None
    updated_at: datetime

    def as_data(self) -> dict[str, object]:
        return {
            "name": self.name,
            "outcome": self.outcome.value,
            "url": self.url,
            "sha": self.head_sha,
            "provider": self.provider,
        }


def service_for(settings: Settings, provider: Provider, repository: str) -> str | None:
    """The service whose `ci:` names this repository (GitHub) or project (GitLab)."""
    for name, service in settings.services.items():
        ci = service.ci
        if ci is None:
            continue
        configured = ci.github_repository if provider is Provider.GITHUB else ci.gitlab_project
        # GitHub and GitLab compare owner and project names without case.
        if configured is not None and configured.lower() == repository.lower():
            return name
    return None


def store_run(store: Store, *, clock: Clock, service: str, run: CiRun) -> bool:
    """Keep `run` unless a newer state of it is stored; True when the stored state changed."""
    cursor = store.conn.execute(
        "INSERT INTO ci_runs (provider, repository, run_id, service, attempt, name, head_sha,"
        " head_branch, tag, status, conclusion, outcome, url, updated_at, rank, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (provider, repository, run_id) DO UPDATE SET"
        " service = excluded.service, attempt = excluded.attempt, name = excluded.name,"
        " head_sha = excluded.head_sha, head_branch = excluded.head_branch, tag = excluded.tag,"
        " status = excluded.status, conclusion = excluded.conclusion,"
        " outcome = excluded.outcome, url = excluded.url, updated_at = excluded.updated_at,"
        " rank = excluded.rank, received_at = excluded.received_at"
        " WHERE (excluded.attempt, excluded.updated_at, excluded.rank)"
        " > (ci_runs.attempt, ci_runs.updated_at, ci_runs.rank)",
        (
            run.provider.value,
            run.repository.lower(),
            run.run_id,
            service,
            run.attempt,
            run.name,
            run.head_sha,
            run.head_branch,
            run.tag,
            run.status,
            run.conclusion,
            run.outcome.value,
            run.url,
            isoformat(run.updated_at),
            run.rank,
            isoformat(clock.now()),
        ),
    )
    return cursor.rowcount > 0


def _rows(store: Store, where: str, params: tuple[object, ...]) -> list[StoredRun]:
    rows = store.query(
        f"SELECT * FROM ci_runs WHERE {where} ORDER BY updated_at DESC, attempt DESC",  # noqa: S608 - fixed clauses
        params,
    )
    return [
        StoredRun(
            service=r["service"],
            provider=r["provider"],
            run_id=r["run_id"],
            name=r["name"],
            head_sha=r["head_sha"],
            head_branch=r["head_branch"],
            tag=r["tag"],
            outcome=Outcome(r["outcome"]),
            url=r["url"],
            updated_at=parse_iso(r["updated_at"]),
        )
        for r in rows
    ]


def latest_per_name(runs: Iterable[StoredRun]) -> list[StoredRun]:
    """Each workflow's (or pipeline's) newest run, newest first: an older failure of a
    workflow that ran again since is history, not the commit's state."""
    seen: dict[str, StoredRun] = {}
    for run in runs:  # newest first
        seen.setdefault(f"{run.provider}:{run.name}", run)
    return list(seen.values())


def for_commit(store: Store, *, service: str, sha: str) -> list[StoredRun]:
    return latest_per_name(_rows(store, "service = ? AND head_sha = ?", (service, sha)))


def for_branch(store: Store, *, service: str, branch: str) -> list[StoredRun]:
    """The runs of the branch's newest commit that CI reported on."""
    runs = _rows(store, "service = ? AND head_branch = ?", (service, branch))
    if not runs:
        return []
    newest = runs[0].head_sha
    return latest_per_name(r for r in runs if r.head_sha == newest)


def for_tag(store: Store, *, service: str, tag: str, sha: str | None) -> list[StoredRun]:
    """A release tag's runs: GitHub names a tag push's run after the tag (head_branch),
    GitLab flags it; any run of the tagged commit counts too."""
    return latest_per_name(
        _rows(
            store,
            "service = ? AND (tag = ? OR head_branch = ? OR head_sha = ?)",
            (service, tag, tag, sha or ""),
        )
    )


def verdict(runs: Iterable[StoredRun]) -> Outcome | None:
    """A commit's CI from each workflow's latest run; None when none reported.

    Failed if any failed; blocked if one waits on a manual job; running or queued while any
    is; green when all finished and at least one succeeded (skipped and neutral runs fail
    nothing); skipped when every one was skipped: nothing was tested, which is no green.
    """
    outcomes = {r.outcome for r in runs}
    if not outcomes:
        return None
    for worst in (Outcome.FAILURE, Outcome.BLOCKED, Outcome.RUNNING, Outcome.QUEUED):
        if worst in outcomes:
            return worst
    return Outcome.SUCCESS if Outcome.SUCCESS in outcomes else Outcome.SKIPPED
