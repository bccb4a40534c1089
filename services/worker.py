"""The bot's own worker pool.

Slack gives a listener 3 seconds; anything that may take longer (Slack
calls, git, Kubernetes) runs here, never on Bolt's small listener pool, so a
slow git fetch can never delay the acknowledgement of the next command.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self, *, threads: int = 4, name: str = "hotfix-worker", long_threads: int = 8
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        # Deployments wait on rollouts for minutes: they get their own threads so that
        # commands and clicks are never stuck behind them.
        self._long_pool = ThreadPoolExecutor(
            max_workers=long_threads, thread_name_prefix=f"{name}-long"
        )
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None], *, describe: str, long: bool = False) -> Future[None]:
        """Run `job` on the pool; an exception is logged, never lost silently."""

        def run() -> None:
            try:
                job()
            except Exception:
                log.exception("worker job failed: %s", describe)

        future = (self._long_pool if long else self._pool).submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def idle(self) -> bool:
        with self._lock:
            return not self._pending

    def drain(self, timeout: float | None = None) -> bool:
        """Wait for every submitted job, and the jobs those submit; True when all finished."""
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            for future in pending:
                try:
                    future.result(timeout=timeout)
                except TimeoutError:
                    return False

    def shutdown(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._long_pool.shutdown(wait=wait, cancel_futures=not wait)
