"""A CI run as the bot keeps it, whichever CI reported it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"


class Outcome(StrEnum):
    """What a person needs to know of a run: the four states the hotfix message shows."""

    QUEUED = "queued"
    RUNNING = "in_progress"
    SUCCESS = "success"
    FAILURE = "failure"

    @property
    def finished(self) -> bool:
        return self in (Outcome.SUCCESS, Outcome.FAILURE)


# Provider words → outcome. GitHub: status queued/requested/waiting/pending/in_progress/
# completed with a conclusion; GitLab: the pipeline's status. "neutral" and "skipped" are
# GitHub's "nothing failed"; cancelled or timed out is no green light.
GREEN = frozenset({"success", "neutral", "skipped"})
RUNNING = frozenset({"in_progress", "running"})
WAITING = frozenset(
    {
        "queued",
        "requested",
        "waiting",
        "pending",
        "created",
        "waiting_for_resource",
        "preparing",
        "scheduled",
        "manual",
    }
)


def outcome_of(status: str, conclusion: str | None) -> Outcome:
    if conclusion is not None:
        return Outcome.SUCCESS if conclusion in GREEN else Outcome.FAILURE
    if status in RUNNING:
        return Outcome.RUNNING
    if status in WAITING:
        return Outcome.QUEUED
    # GitLab says success / failed / canceled / skipped in `status` itself.
    return Outcome.SUCCESS if status in GREEN else Outcome.FAILURE


# A later state of the same run attempt ranks higher: a delivery arriving late with an
# equal timestamp never takes a finished run back to running.
RANK = {Outcome.QUEUED: 0, Outcome.RUNNING: 1, Outcome.SUCCESS: 2, Outcome.FAILURE: 2}


@dataclass(frozen=True)
class CiRun:
    provider: Provider
    repository: str  # GitHub's owner/name, GitLab's group/project
    run_id: str  # unique per provider and repository ("workflow_run:123", "pipeline:45")
    attempt: int  # GitHub's run_attempt (a re-run keeps the id); 1 for GitLab
    name: str
    head_sha: str
    head_branch: str | None
    tag: str | None
    status: str
    conclusion: str | None
    url: str | None
    updated_at: datetime

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status, self.conclusion)

    @property
    def rank(self) -> int:
        return RANK[self.outcome]
