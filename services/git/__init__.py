"""Git hotfix flow: create, finish (merge/tag/back-merge, all or nothing) and status.

git-flow (nvie, AVH) and trunk-based "branch for release" models; see
``README.md`` in this package for how the results compare with git-flow.
Only :mod:`services.git.working_copy` runs git.
"""

from .clone import prepare_clone
from .errors import (
    AlreadyFinishedError,
    AmbiguousHotfixError,
    BackMergeConflictError,
    CherryPickConflictError,
    DirtyCloneError,
    DivergedBranchError,
    EmptyHotfixError,
    GitCommandError,
    GitConflictError,
    HotfixError,
    HotfixExistsError,
    InvalidInputError,
    LockHolder,
    MergeConflictError,
    NoHotfixError,
    NonFastForwardError,
    OtherHotfixOpenError,
    PushRejectedError,
    RejectedRef,
    RepositoryBusyError,
    RepositoryStateError,
    TagExistsError,
    UnreleasedCommitsError,
    scrub,
)
from .finish import finish_hotfix
from .flow import create_hotfix, hotfix_status
from .results import (
    CherryPick,
    CommitInfo,
    HotfixBranchStatus,
    HotfixCreated,
    HotfixFinished,
    RefUpdate,
)
from .settings import RepositorySettings
from .tags import RemoteTags, remote_tags, tag_commit
from .validation import slugify

__all__ = [
    "AlreadyFinishedError",
    "AmbiguousHotfixError",
    "BackMergeConflictError",
    "CherryPick",
    "CherryPickConflictError",
    "CommitInfo",
    "DirtyCloneError",
    "DivergedBranchError",
    "EmptyHotfixError",
    "GitCommandError",
    "GitConflictError",
    "HotfixBranchStatus",
    "HotfixCreated",
    "HotfixError",
    "HotfixExistsError",
    "HotfixFinished",
    "InvalidInputError",
    "LockHolder",
    "MergeConflictError",
    "NoHotfixError",
    "NonFastForwardError",
    "OtherHotfixOpenError",
    "PushRejectedError",
    "RefUpdate",
    "RejectedRef",
    "RemoteTags",
    "RepositoryBusyError",
    "RepositorySettings",
    "RepositoryStateError",
    "TagExistsError",
    "UnreleasedCommitsError",
    "create_hotfix",
    "finish_hotfix",
    "hotfix_status",
    "prepare_clone",
    "remote_tags",
    "scrub",
    "slugify",
    "tag_commit",
]
