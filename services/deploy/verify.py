"""Verification: health endpoints polled through the verification window."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from services.clock import Clock
from services.deploy.backend import Progress, ShouldAbort
from services.deploy.settings import HealthCheck


@dataclass
class VerifyResult:
    ok: bool
    samples: int = 0
    failures: list[str] = field(default_factory=list)
    aborted: bool = False


@dataclass(frozen=True)
class Probed:
    """One request's outcome: `problem` is None when healthy."""

    problem: str | None
    latency_ms: float | None  # None when nothing answered
    status: int | None


def probe(check: HealthCheck, *, timeout: float = 5.0) -> str | None:
    """One request; None when healthy, else why not."""
    return measure(check, timeout=timeout).problem


def measure(check: HealthCheck, *, timeout: float = 5.0) -> Probed:
    """One request, with its status and latency (what a verify card shows)."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(check.url, timeout=timeout) as response:  # noqa: S310 - http(s) only, validated
            status, body = response.status, response.read(65536).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(65536).decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return Probed(f"{check.url}: unreachable ({getattr(exc, 'reason', exc)})", None, None)
    latency_ms = (time.perf_counter() - started) * 1000

    def failed(why: str) -> Probed:
        return Probed(f"{check.url}: {why}", latency_ms, status)

    if status != check.expect_status:
        return failed(f"HTTP {status}, expected {check.expect_status}")
    if check.body_contains and check.body_contains not in body:
        return failed(f"body does not contain {check.body_contains!r}")
    if check.max_latency_ms is not None and latency_ms > check.max_latency_ms:
        return failed(f"{latency_ms:.0f} ms, over {check.max_latency_ms:.0f} ms")
    return Probed(None, latency_ms, status)


def verify(
    checks: list[HealthCheck],
    *,
    seconds: float,
    interval: float,
    clock: Clock,
    progress: Progress,
    should_abort: ShouldAbort,
) -> VerifyResult:
    """Every check must pass at every sample for the whole window; the first failure ends it."""
    result = VerifyResult(ok=True)
    if not checks:
        return result
    deadline = clock.now().timestamp() + seconds
    while True:
        if should_abort():
            return VerifyResult(
                ok=False, samples=result.samples, failures=["rollback requested"], aborted=True
            )
        result.samples += 1
        failures = [problem for check in checks if (problem := probe(check)) is not None]
        if failures:
            return VerifyResult(ok=False, samples=result.samples, failures=failures)
        if clock.now().timestamp() >= deadline:
            return result
        progress(f"healthy ({result.samples} samples)")
        clock.sleep(interval)
