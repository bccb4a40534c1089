"""The worker pool: jobs of one request run one after the other, never side by side."""

from __future__ import annotations

import threading

import pytest

from services.worker import Worker

pytestmark = pytest.mark.unit


def test_jobs_with_one_key_run_one_at_a_time_in_order_and_other_keys_do_not_wait() -> None:
    worker = Worker(threads=4)
    release = threading.Event()
    other_ran = threading.Event()
    active = [0]
    overlaps: list[int] = []
    order: list[int] = []
    lock = threading.Lock()

    def job(n: int) -> None:
        with lock:
            active[0] += 1
            if active[0] > 1:
                overlaps.append(n)
        if n == 0:
            release.wait(10)  # the first run is slow; the copies must wait for it
        with lock:
            order.append(n)
            active[0] -= 1

    try:
        for n in range(4):
            worker.submit(lambda n=n: job(n), describe=f"copy {n}", one_at_a_time="T1")
        worker.submit(other_ran.set, describe="another request", one_at_a_time="T2")
        assert other_ran.wait(10)  # not stuck behind T1
        assert order == []
        release.set()
        assert worker.drain(timeout=10)
    finally:
        worker.shutdown()
    assert order == [0, 1, 2, 3]
    assert overlaps == []


def test_a_failing_job_does_not_stop_the_ones_waiting_for_its_key() -> None:
    worker = Worker(threads=2)
    ran: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    try:
        worker.submit(boom, describe="first", one_at_a_time="T1")
        worker.submit(lambda: ran.append("second"), describe="second", one_at_a_time="T1")
        assert worker.drain(timeout=10)
    finally:
        worker.shutdown()
    assert ran == ["second"]
    assert worker.idle()
