"""One bot per database: a second process must not run a second scheduler or engine.

The lock is an exclusive `flock` on a file next to the SQLite database; the
kernel releases it when the process dies, even on SIGKILL, so a crashed bot
never blocks its replacement.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class AlreadyRunningError(Exception):
    pass


class InstanceLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunningError(
                f"Another hotfix-bot ({holder}) is already serving {self.path.with_suffix('')}.\n"
                "Run one bot per database: stop the other one first (the lock is released"
                " automatically when it exits or crashes)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
