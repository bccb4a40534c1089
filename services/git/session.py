"""Shared steps of the operations: lock and open, check, sync, restore, push errors."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import (
    DirtyCloneError,
    DivergedBranchError,
    HotfixError,
    NonFastForwardError,
    PushRejectedError,
    RepositoryStateError,
    TagExistsError,
)
from .locking import repository_lock
from .restore_point import recover_interrupted, tidy_own_clone
from .settings import RepositorySettings
from .versions import VersionTag, newest_release
from .working_copy import GitRepository, Identity, LocalState, PushOutcome

log = logging.getLogger(__name__)

_NON_FF_REASONS = ("non-fast-forward", "fetch first", "stale info")
RETRY_AFTER_MOVE = "run the command again: the bot fetches the new state and redoes the work"
_LOCK_MISMATCH = re.compile(
    r"cannot lock ref '([^']+)': is at ([0-9a-f]+) but expected ([0-9a-f]+)"
)


@contextmanager
def open_session(
    *,
    settings: RepositorySettings,
    clone: Path | str,
    operation: str,
    issue_key: str | None,
    actor: str | None,
) -> Iterator[GitRepository]:
    """Open the clone and hold its lock (RepositoryBusyError if someone else has it)."""
    repo = GitRepository.open(
        Path(clone), identity=Identity(settings.author_name, settings.author_email)
    )
    key = os.path.realpath(repo.path)
    try:
        with repository_lock(
            key=key, git_dir=repo.git_dir, operation=operation, issue_key=issue_key, actor=actor
        ):
            recover_interrupted(repo, restore)
            tidy_own_clone(repo)
            yield repo
    finally:
        repo.close()


def require_clean(repo: GitRepository) -> None:
    details = [f"{name} in progress" for name in repo.in_progress()]
    changes = repo.status_porcelain()
    if changes:
        details.append(f"{len(changes)} changed/untracked path(s), e.g. {changes[0][3:]}")
    if details:
        raise DirtyCloneError(str(repo.path), details, managed=repo.managed)


def remote_branches(repo: GitRepository, remote: str) -> dict[str, str]:
    """Remote-tracking branches after the fetch: short name -> sha."""
    namespace = f"refs/remotes/{remote}/"
    return {
        ref[len(namespace) :]: sha
        for ref, sha in repo.refs(namespace).items()
        if ref != f"{namespace}HEAD"
    }


def require_remote_branch(branches: dict[str, str], name: str, remote: str) -> str:
    sha = branches.get(name)
    if sha is None:
        raise RepositoryStateError(
            f"branch {name} does not exist on {remote}",
            hint="check production_branch/development_branch in the repository settings",
        )
    return sha


def release_baseline(
    repo: GitRepository,
    settings: RepositorySettings,
    production_sha: str,
    remote_refs: dict[str, str],
) -> VersionTag | None:
    """Newest release tag reachable from production, among the tags the remote has.

    A stray tag that exists only in the bot's clone never moves the baseline.
    """
    local_tags = repo.refs("refs/tags/")
    published = [
        name
        for name in repo.tags_merged_into(production_sha)
        if remote_refs.get(f"refs/tags/{name}", "-") == local_tags.get(f"refs/tags/{name}")
    ]
    return newest_release(published, settings.tag_prefix)


def prune_stale_hotfixes(
    repo: GitRepository, settings: RepositorySettings, production_sha: str | None
) -> list[str]:
    """Delete local hotfix branches whose remote branch is gone and that production has.

    That is what ``git fetch --prune`` + ``git branch -d`` does for a careful
    engineer after someone else finished the hotfix. Anything not merged
    into production stays.
    """
    if production_sha is None:
        return []
    head = repo.head().branch
    deleted = []
    for name in repo.upstream_gone_branches(settings.hotfix_prefix):
        sha = repo.rev_parse(f"refs/heads/{name}")
        if name != head and sha is not None and repo.is_ancestor(sha, production_sha):
            repo.delete_branch(name)
            deleted.append(name)
    return deleted


def sync_local_branch(repo: GitRepository, name: str, remote: str, remote_sha: str) -> None:
    """Make local ``name`` equal to the remote branch: create it or fast-forward it.

    A local branch with commits the remote lacks is refused
    (DivergedBranchError): the bot never pushes work nobody reviewed.
    """
    ref = f"refs/heads/{name}"
    local = repo.rev_parse(ref)
    if local == remote_sha:
        return
    if local is None:
        repo.create_branch(name, f"refs/remotes/{remote}/{name}", track=True)
        return
    if not repo.is_ancestor(local, remote_sha):
        raise DivergedBranchError(name, local, remote_sha)
    if repo.head().branch == name:
        repo.merge_ff_only(remote_sha)
    else:
        repo.update_ref(ref, remote_sha, local)


def restore(repo: GitRepository, state: LocalState) -> None:
    """Put the clone back as recorded: no merge in progress, refs and HEAD as before.

    Branches and tags created since are deleted, moved ones are reset. The
    bot's own clone also loses every untracked file (what a killed checkout
    wrote); a clone used in place keeps them. Raises whatever git raises;
    callers log it and re-raise the original error.
    """
    _discard_changes(repo)
    if repo.head().sha is not None:
        repo.detach()
    current = repo.local_state()
    for ref, sha in current.branches.items():
        old = state.branches.get(ref)
        if old is None:
            repo.delete_branch(ref[len("refs/heads/") :])
        elif old != sha:
            repo.update_ref(ref, old, sha)
    for ref, old in state.branches.items():
        if ref not in current.branches:
            repo.update_ref(ref, old, None)
    for ref, sha in current.tags.items():
        old = state.tags.get(ref)
        if old is None:
            repo.delete_tag(ref[len("refs/tags/") :])
        elif old != sha:
            repo.update_ref(ref, old, sha)
    for ref, old in state.tags.items():
        if ref not in current.tags:
            repo.update_ref(ref, old, None)
    if state.head.branch is not None:
        repo.switch(state.head.branch)
    elif state.head.sha is not None:
        repo.detach(state.head.sha)
    _discard_changes(repo)


def _discard_changes(repo: GitRepository) -> None:
    if repo.managed:
        repo.discard_everything()
        return
    for name in repo.in_progress():
        if name == "merge":
            repo.merge_abort()
        elif name == "cherry-pick":
            repo.cherry_pick_abort()
    if repo.status_porcelain():
        repo.reset_hard()


def restore_or_log(repo: GitRepository, state: LocalState, error: BaseException) -> None:
    try:
        restore(repo, state)
    except Exception as exc:  # the original error matters more; say the clone needs a look
        log.exception("could not restore the clone at %s", repo.path)
        if isinstance(error, HotfixError):
            error.hint = (error.hint or "") + (
                f" (warning: the bot could not restore its clone at {repo.path}: "
                f"{type(exc).__name__}; it needs a look by hand)"
            )


def push_failure(
    outcome: PushOutcome, *, expected: dict[str, str | None], tag: str | None = None
) -> HotfixError:
    """Turn a failed push into the right error.

    ``expected`` maps each pushed ref to the remote value the bot built on.
    """
    primary = [r for r in outcome.rejected if "atomic" not in r.reason] or list(outcome.rejected)
    for message in outcome.remote_messages:
        match = _LOCK_MISMATCH.search(message)
        if match:
            ref, actual, wanted = match.groups()
            return _moved(ref, wanted, actual, outcome)
    for rejected in primary:
        if any(reason in rejected.reason for reason in _NON_FF_REASONS):
            return _moved(rejected.ref, expected.get(rejected.ref), None, outcome)
        if (
            tag is not None
            and rejected.ref == f"refs/tags/{tag}"
            and "already exists" in rejected.reason
        ):
            return TagExistsError(tag, "on the remote (created while finishing)", None)
    names = ", ".join(f"{r.ref} ({r.reason})" for r in primary) or "unknown refs"
    message = f"the remote rejected {names}"
    if len(outcome.rejected) > len(primary):
        message += "; the push was atomic, so no other ref was updated either"
    if outcome.remote_messages:
        message += ". Remote said: " + " / ".join(outcome.remote_messages)
    return PushRejectedError(
        outcome.rejected,
        remote_messages=outcome.remote_messages,
        message=message,
        hint=(
            "the remote is unchanged and the bot's clone is as before; fix what the remote "
            "objects to (branch protection, hooks, permissions), then finish again"
        ),
    )


def _moved(
    ref: str, expected: str | None, actual: str | None, outcome: PushOutcome
) -> NonFastForwardError:
    was = f" (expected {expected[:10]}" if expected else " ("
    now = f", now {actual[:10]})" if actual else ")"
    detail = f"{was}{now}" if expected or actual else ""
    return NonFastForwardError(
        branch=ref.removeprefix("refs/heads/"),
        expected_sha=expected,
        actual_sha=actual,
        rejected=outcome.rejected,
        remote_messages=outcome.remote_messages,
        message=(
            f"{ref} moved on the remote while the bot was working{detail}; nothing was pushed"
        ),
        hint=RETRY_AFTER_MOVE,
        retryable=True,
    )


def check_remote_unchanged(
    repo: GitRepository, remote: str, expected: dict[str, str | None], tag: str | None
) -> None:
    """Right before pushing: every ref we update must still be where we built on."""
    current = repo.ls_remote(remote)
    if tag is not None and f"refs/tags/{tag}" in current:
        raise TagExistsError(
            tag, "on the remote (created while finishing)", current[f"refs/tags/{tag}"]
        )
    for ref, sha in expected.items():
        if ref.startswith("refs/tags/"):
            continue
        if current.get(ref) != sha:
            actual = current.get(ref)
            raise NonFastForwardError(
                branch=ref.removeprefix("refs/heads/"),
                expected_sha=sha,
                actual_sha=actual,
                message=(
                    f"{ref.removeprefix('refs/heads/')} moved on the remote since the fetch "
                    f"(was {_short(sha)}, now {_short(actual)}); nothing was pushed"
                ),
                hint=RETRY_AFTER_MOVE,
                retryable=True,
            )


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "absent"
