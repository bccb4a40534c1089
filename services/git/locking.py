"""One operation at a time per repository, across threads and processes.

A non-blocking ``threading.Lock`` per clone serialises the bot's own worker
threads; an ``fcntl.flock`` on ``<git dir>/hotfix-bot.lock`` serialises
separate bot processes sharing a clone. A loser never waits: it gets
:class:`RepositoryBusyError` naming what the holder is doing. The holder
writes that description into the lock file so another process can read it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from .errors import LockHolder, RepositoryBusyError

LOCK_FILE_NAME = "hotfix-bot.lock"


class _ThreadSlot:
    __slots__ = ("holder", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holder: LockHolder | None = None


_slots: dict[str, _ThreadSlot] = {}
_slots_guard = threading.Lock()


def _slot(key: str) -> _ThreadSlot:
    with _slots_guard:
        slot = _slots.get(key)
        if slot is None:
            slot = _slots[key] = _ThreadSlot()
        return slot


def _read_holder(fd: int) -> LockHolder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    return LockHolder(
        operation=str(data.get("operation") or "operation"),
        issue_key=_str_or_none(data.get("issue_key")),
        actor=_str_or_none(data.get("actor")),
        pid=pid if isinstance(pid, int) else None,
        since=_str_or_none(data.get("since")),
    )


def _str_or_none(value: object) -> str | None:
    return str(value) if value is not None else None


@contextmanager
def repository_lock(
    *, key: str, git_dir: Path, operation: str, issue_key: str | None, actor: str | None
) -> Iterator[LockHolder]:
    """Hold the repository's lock for the block, or raise RepositoryBusyError at once."""
    holder = LockHolder(
        operation=operation,
        issue_key=issue_key,
        actor=actor,
        pid=os.getpid(),
        since=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    slot = _slot(key)
    if not slot.lock.acquire(blocking=False):
        raise RepositoryBusyError(key, slot.holder)
    try:
        fd = os.open(git_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RepositoryBusyError(key, _read_holder(fd)) from None
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(asdict(holder)).encode("utf-8"), 0)
                slot.holder = holder
                yield holder
            finally:
                slot.holder = None
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        slot.lock.release()
