"""A CI run as the bot keeps it, whichever CI reported it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"


class Outcome(StrEnum):
    """What a person needs to know of a run: the states the hotfix message shows."""

    QUEUED = "queued"
    RUNNING = "in_progress"
    # GitLab's "manual": the pipeline stopped at a manual job nobody ran; it stays so until
    # someone does, so a deploy waiting for it would only wait out ci_wait_minutes.
    BLOCKED = "manual"
    SUCCESS = "success"
    # GitHub's "skipped" and "neutral", GitLab's "skipped": nothing failed, nothing was tested.
    SKIPPED = "skipped"
    FAILURE = "failure"

    @property
    def finished(self) -> bool:
        return self in (Outcome.SUCCESS, Outcome.SKIPPED, Outcome.FAILURE)


# Provider words → outcome. GitHub: status queued/requested/waiting/pending/in_progress/
# completed with a conclusion; GitLab: the pipeline's status. Cancelled or timed out is no
# green light.
GREEN = frozenset({"success"})
SKIPPED = frozenset({"neutral", "skipped"})
RUNNING = frozenset({"in_progress", "running"})
MANUAL = "manual"
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
    }
)


def outcome_of(status: str, conclusion: str | None) -> Outcome:
    if conclusion is not None:
        return _finished(conclusion)
    if status in RUNNING:
        return Outcome.RUNNING
    if status in WAITING:
        return Outcome.QUEUED
    if status == MANUAL:
        return Outcome.BLOCKED
    # GitLab says success / failed / canceled / skipped in `status` itself.
    return _finished(status)


def _finished(word: str) -> Outcome:
    if word in GREEN:
        return Outcome.SUCCESS
    return Outcome.SKIPPED if word in SKIPPED else Outcome.FAILURE


# A later state of the same run attempt ranks higher: a delivery arriving late with an
# equal timestamp never takes a finished run back to running.
# GitLab sends a stopped pipeline with its creation time, as it did while it ran: "manual"
# ranks after running (it comes after the jobs before it ran).
RANK = {
    Outcome.QUEUED: 0,
    Outcome.RUNNING: 1,
    Outcome.BLOCKED: 2,
    Outcome.SUCCESS: 2,
    Outcome.SKIPPED: 2,
    Outcome.FAILURE: 2,
}


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
    # Why the run is not of the repository's own code (a fork's pull or merge request), or
    # None: such a run is acknowledged and ignored, never shown nor read by the gate.
    foreign: str | None = None

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status, self.conclusion)

    @property
    def rank(self) -> int:
        return RANK[self.outcome]
