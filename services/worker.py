"""The bot's own worker pool.

Slack gives a listener 3 seconds; anything that may take longer (Slack
calls, git, Kubernetes) runs here, never on Bolt's small listener pool, so a
slow git fetch can never delay the acknowledgement of the next command.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

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
        # Per `one_at_a_time` key that has a job running: the jobs waiting for it, in order.
        self._waiting: dict[str, deque[tuple[Callable[[], None], bool, Future[None]]]] = {}

    def submit(
        self,
        job: Callable[[], object],  # what it returns is not kept
        *,
        describe: str,
        long: bool = False,
        one_at_a_time: str | None = None,
    ) -> Future[None]:
        """Run `job` on the pool; an exception is logged, never lost silently.

        Jobs given the same `one_at_a_time` key run one after the other, in the order
        submitted, never side by side: two runs of one request (Slack's retry beside the
        journal's replay of it) would each find the other's work half done.
        """

        def run() -> None:
            try:
                job()
            except Exception:
                log.exception("worker job failed: %s", describe)

        if one_at_a_time is None:
            return self._start(run, long)
        with self._lock:
            waiting = self._waiting.get(one_at_a_time)
            if waiting is not None:  # one with this key runs: this one waits its turn
                turn: Future[None] = Future()
                waiting.append((run, long, turn))
                self._pending.add(turn)
                turn.add_done_callback(self._forget)
                return turn
            self._waiting[one_at_a_time] = deque()
        return self._start(self._then_next(one_at_a_time, run), long)

    def _start(self, run: Callable[[], None], long: bool) -> Future[None]:
        future = (self._long_pool if long else self._pool).submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _then_next(
        self, key: str, run: Callable[[], None], turn: Future[None] | None = None
    ) -> Callable[[], None]:
        """`run`, then the next job waiting on `key` (or the key is free again)."""

        def serial() -> None:
            try:
                run()
            finally:
                if turn is not None and not turn.done():
                    turn.set_result(None)
                with self._lock:
                    waiting = self._waiting[key]
                    following = waiting.popleft() if waiting else None
                    if following is None:
                        del self._waiting[key]
                if following is not None:
                    next_run, long, next_turn = following
                    try:
                        self._start(self._then_next(key, next_run, next_turn), long)
                    except RuntimeError:  # shut down meanwhile: what waits will not run
                        self._give_up(key, next_turn)

        return serial

    def _give_up(self, key: str, turn: Future[None]) -> None:
        with self._lock:
            waiting = self._waiting.pop(key, deque())
        turn.cancel()
        for _, _, later in waiting:
            later.cancel()

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
                except CancelledError:  # a job that waited its turn when the pool shut down
                    continue

    def shutdown(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._long_pool.shutdown(wait=wait, cancel_futures=not wait)
