"""A restore point on disk, so that a finish cut short by a crash is undone on the next run.

While an operation rewrites the clone (merges, tags, branch moves before the
push), the state it started from is written into the git directory. A normal
end removes it; a process killed in between leaves it, and the next operation
on the clone (holding the clone's lock, so the writer is gone) puts the clone
back to that state before doing anything. Only a state the bot recorded
itself is ever restored, so a clone that people also use is never reset to
something they did not have.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .locking import LOCK_FILE_NAME
from .working_copy import GitRepository, HeadState, LocalState

log = logging.getLogger(__name__)

FILE_NAME = "hotfix-bot-restore-point.json"
# A git killed with the bot may leave its lock files; an orphaned one still running
# removes them within moments. Past this, nobody holds them (we hold the clone's lock).
STALE_GIT_LOCK_SECONDS = 5.0


def _path(repo: GitRepository) -> Path:
    return repo.git_dir / FILE_NAME


@contextmanager
def restore_point(repo: GitRepository, state: LocalState) -> Iterator[None]:
    """Keep `state` on disk for the duration of the block (removed however the block ends)."""
    path = _path(repo)
    data = {
        "head": {"branch": state.head.branch, "sha": state.head.sha},
        "branches": dict(state.branches),
        "tags": dict(state.tags),
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)  # atomic: a crash leaves the old file or the new, never half
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def recover_interrupted(
    repo: GitRepository,
    restore: Callable[[GitRepository, LocalState], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Undo an operation a crash cut short; True when there was one."""
    path = _path(repo)
    if not path.exists():
        return False
    raw = json.loads(path.read_text())
    state = LocalState(
        head=HeadState(branch=raw["head"]["branch"], sha=raw["head"]["sha"]),
        branches=raw["branches"],
        tags=raw["tags"],
    )
    _clear_stale_git_locks(repo, clock=clock, sleep=sleep)
    log.warning("the last operation on %s was interrupted; putting the clone back", repo.path)
    restore(repo, state)
    path.unlink(missing_ok=True)
    return True


def tidy_own_clone(
    repo: GitRepository,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """In a clone the bot made itself, clear what a crash left; True when there was something.

    A git killed while switching branches leaves its index lock and the files it
    had written so far (untracked, or modified). Restoring refs does not remove
    them, and nobody but the bot works in its own clone, so they are deleted:
    abort, ``reset --hard``, ``clean -ffdx``. A clone the bot uses in place
    (the repository setting names a local work tree) is never cleaned: those
    files may be someone's work, and ``require_clean`` refuses and says so.
    """
    if not repo.managed:
        return False
    if not (_git_locks(repo) or repo.in_progress() or repo.status_porcelain(ignored=True)):
        return False
    _clear_stale_git_locks(repo, clock=clock, sleep=sleep)
    log.warning("cleaning the bot's own clone at %s (left dirty by an interrupted run)", repo.path)
    repo.discard_everything()
    return True


def _git_locks(repo: GitRepository) -> list[Path]:
    return [p for p in repo.git_dir.rglob("*.lock") if p.is_file() and p.name != LOCK_FILE_NAME]


def _clear_stale_git_locks(
    repo: GitRepository, *, clock: Callable[[], float], sleep: Callable[[float], None]
) -> None:
    deadline = clock() + STALE_GIT_LOCK_SECONDS
    while _git_locks(repo) and clock() < deadline:
        sleep(0.1)
    for lock in _git_locks(repo):
        log.warning("removing a stale git lock left by a killed process: %s", lock)
        lock.unlink(missing_ok=True)
