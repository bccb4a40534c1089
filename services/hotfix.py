"""The git hotfix flow as the bot runs it: authorised, linked to the incident, on the timeline.

`services.git` does the git work; this module picks the service's repository,
checks who may act, records each result (or failure) on the incident's
timeline, and turns git's errors into answers a person can act on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from services import timeline
from services.access import require_deployer
from services.chat import Chat
from services.clock import Clock
from services.errors import UserFacingError
from services.git import (
    AlreadyFinishedError,
    HotfixBranchStatus,
    HotfixCreated,
    HotfixError,
    HotfixFinished,
    RepositorySettings,
    create_hotfix,
    finish_hotfix,
    hotfix_status,
    prepare_clone,
)
from services.incidents.model import Incident, Severity
from services.settings import Settings
from services.store import Store

T = TypeVar("T")


@dataclass(frozen=True)
class AlreadyFinished:
    """A finish found its work done: a release tag resolving the issue is on production.

    A success for the person asking (a replay, or a second click): nothing was pushed.
    """

    issue_key: str
    tag: str


@dataclass(frozen=True)
class HotfixDeps:
    settings: Settings
    store: Store
    clock: Clock
    chat: Chat
    data_dir: Path


def repository_for(settings: Settings, service: str | None) -> tuple[str, RepositorySettings]:
    configured = {name: s.git for name, s in settings.services.items() if s.git is not None}
    if not configured:
        raise UserFacingError(
            "No service has a git repository configured.",
            hint="Add services.<name>.git.repository to the bot's configuration.",
        )
    if service is None:
        if len(configured) > 1:
            raise UserFacingError(
                "Which service? Several are configured: " + ", ".join(sorted(configured)) + ".",
                hint="Add --service=<name>.",
            )
        service = next(iter(configured))
    repo = configured.get(service)
    if repo is None:
        raise UserFacingError(
            f"There is no service {service!r} with a repository.",
            hint="Configured: " + ", ".join(sorted(configured)) + ".",
        )
    return service, repo


def _record(
    deps: HotfixDeps,
    incident: Incident | None,
    *,
    actor: str,
    kind: str,
    text: str,
    data: dict[str, Any],
    dedup_key: str | None = None,
) -> None:
    if incident is not None:
        timeline.append(
            deps.store,
            clock=deps.clock,
            incident_id=incident.id,
            actor=actor,
            kind=kind,
            text=text,
            data=data,
            dedup_key=dedup_key,
        )


def _run_git(
    deps: HotfixDeps,
    incident: Incident | None,
    *,
    actor: str,
    what: str,
    failure_kind: str,
    run: Callable[[], T],
) -> T:
    """Run one git operation; a failure lands on the incident's timeline and is explained."""
    try:
        return run()
    except AlreadyFinishedError:
        raise  # not a failure: the caller records what was found
    except HotfixError as exc:
        _record(
            deps,
            incident,
            actor=actor,
            kind=failure_kind,
            text=f"{what} failed: {exc.message}",
            data={
                "error": type(exc).__name__,
                "message": exc.message,
                # The key the timeline has always used for it (readers of old rows too).
                "what_to_do": exc.hint or "",
            },
        )
        raise  # a HotfixError is a UserFacingError: the handler shows its message and hint


def start(
    deps: HotfixDeps,
    *,
    actor: str,
    service: str | None,
    issue_key: str,
    description: str | None,
    base: str | None,
    severity: Severity | None,
    incident: Incident | None,
) -> tuple[str, HotfixCreated]:
    require_deployer(
        actor, access=deps.settings.access, chat=deps.chat, what="create hotfix branches"
    )
    name, repo = repository_for(deps.settings, service)
    created = _run_git(
        deps,
        incident,
        actor=actor,
        what="Creating the hotfix branch",
        failure_kind="hotfix_create_failed",
        run=lambda: create_hotfix(
            settings=repo,
            clone=prepare_clone(settings=repo, data_dir=deps.data_dir),
            issue_key=issue_key,
            description=description,
            base=base,
            # The same trailer as finish writes: the canonical SEV label, whatever word was typed.
            severity=severity.label if severity else None,
            actor=actor,
        ),
    )
    _record(
        deps,
        incident,
        actor=actor,
        kind="hotfix_created",
        text=f"Hotfix branch {created.branch} cut from {created.baseline_tag or created.base_ref};"
        f" next version {created.next_tag}",
        data={"service": name, **dataclasses.asdict(created)},
    )
    return name, created


def finish(
    deps: HotfixDeps,
    *,
    actor: str,
    service: str | None,
    issue_key: str | None,
    version: str | None,
    incident: Incident | None,
) -> tuple[str, HotfixFinished | AlreadyFinished]:
    require_deployer(actor, access=deps.settings.access, chat=deps.chat, what="finish hotfixes")
    name, repo = repository_for(deps.settings, service)
    try:
        finished = _run_git(
            deps,
            incident,
            actor=actor,
            what="Finishing the hotfix",
            failure_kind="hotfix_finish_failed",
            run=lambda: finish_hotfix(
                settings=repo,
                clone=prepare_clone(settings=repo, data_dir=deps.data_dir),
                issue_key=issue_key,
                version=version,
                severity=incident.severity.label if incident else None,
                incident_id=incident.id if incident else None,
                actor=actor,
            ),
        )
    except AlreadyFinishedError as done:
        # The finish that pushed may have died before writing this (a crash, then a replay).
        _record(
            deps,
            incident,
            actor=actor,
            kind="hotfix_finished",
            text=f"Hotfix {done.issue_key} finished: tagged {done.tag}",
            data={"service": name, "issue_key": done.issue_key, "tag": done.tag},
            dedup_key=_finished_key(done.issue_key, done.tag),
        )
        return name, AlreadyFinished(issue_key=done.issue_key, tag=done.tag)
    _record(
        deps,
        incident,
        actor=actor,
        kind="hotfix_finished",
        text=f"Hotfix {finished.issue_key} finished: tagged {finished.tag}, merged into"
        f" {finished.production_branch} and {finished.development_branch}",
        data={"service": name, **dataclasses.asdict(finished)},
        dedup_key=_finished_key(finished.issue_key, finished.tag),
    )
    return name, finished


def _finished_key(issue_key: str, tag: str) -> str:
    return f"hotfix_finished:{issue_key}:{tag}"


def status(
    deps: HotfixDeps, *, actor: str, service: str | None, issue_key: str | None
) -> tuple[str, list[HotfixBranchStatus]]:
    name, repo = repository_for(deps.settings, service)
    branches = _run_git(
        deps,
        None,
        actor=actor,
        what="Reading hotfix branches",
        failure_kind="hotfix_status_failed",
        run=lambda: hotfix_status(
            settings=repo,
            clone=prepare_clone(settings=repo, data_dir=deps.data_dir),
            issue_key=issue_key,
            actor=actor,
        ),
    )
    return name, branches
