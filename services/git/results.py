"""Results of the hotfix operations: plain frozen dataclasses, ready to render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RefUpdate:
    """One ref changed on the remote. ``None`` means "did not exist" / "deleted"."""

    ref: str
    old_sha: str | None
    new_sha: str | None


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    subject: str
    author_name: str
    author_email: str
    authored_at: datetime


@dataclass(frozen=True, slots=True)
class CherryPick:
    """A hotfix commit and its copy on the development branch.

    ``new_sha`` is None when the change was already there (the cherry-pick
    came out empty and was skipped, as a careful engineer would).
    """

    source_sha: str
    new_sha: str | None


@dataclass(frozen=True, slots=True)
class HotfixCreated:
    issue_key: str
    branch: str  # e.g. "hotfix/PROD-2847-login-fails"
    branch_model: str  # "gitflow" | "trunk"
    remote: str
    base_ref: str  # e.g. "origin/production", what the branch was cut from
    base_sha: str  # commit the branch starts at
    baseline_tag: str | None  # newest release tag on production, None if there is none
    baseline_sha: str  # commit of baseline_tag, or production's tip when there is no tag
    next_version: str  # e.g. "2.1.1"
    next_tag: str  # e.g. "v2.1.1"
    issue_url: str | None
    severity: str | None
    pushed_refs: tuple[RefUpdate, ...]


@dataclass(frozen=True, slots=True)
class HotfixFinished:
    issue_key: str
    branch: str
    branch_model: str
    remote: str
    version: str  # "2.1.1"
    tag: str  # "v2.1.1"
    tag_sha: str  # the annotated tag object
    tagged_sha: str  # the commit the tag points at (production's new tip)
    baseline_tag: str | None
    hotfix_sha: str  # tip of the hotfix branch that was finished
    hotfix_commits: tuple[str, ...]  # commits on the hotfix branch, oldest first
    production_branch: str
    production_old_sha: str
    production_new_sha: str
    production_merge_sha: str | None  # git-flow's --no-ff merge commit; None for trunk
    development_branch: str
    development_old_sha: str
    development_new_sha: str
    development_merge_sha: str | None  # git-flow's merge into develop; None for trunk
    cherry_picked: tuple[CherryPick, ...]  # trunk only, oldest first
    pushed_refs: tuple[RefUpdate, ...]
    branch_deleted: bool
    issue_url: str | None
    severity: str | None
    incident_id: str | None


@dataclass(frozen=True, slots=True)
class HotfixBranchStatus:
    issue_key: str | None
    branch: str
    sha: str
    ahead: int  # commits on the hotfix branch that production lacks
    behind: int  # commits on production that the hotfix branch lacks
    last_commit: CommitInfo
    merged_into_production: bool  # ahead == 0 (also true before the first fix commit)
    finished_tag: str | None  # release tag that shipped this hotfix, if any
    issue_url: str | None

    @property
    def finished(self) -> bool:
        return self.finished_tag is not None
