"""/hotfix verify: what runs now, checked for a while.

For `--duration`, every interval (the environment's `verify_interval_seconds`), one sample:
each health check of the endpoint group (`env.endpoints[group]`) is requested once, and
the environment's metric rules (`env.analysis`) are evaluated once through the same
Analysis a deployment's verification uses. The first failing endpoint, or a failed
analysis, ends it as failed; an analysis that cannot judge (no data, Prometheus away, a
breach still pending at the end) ends it as inconclusive. The run is stored with
services.pipeline.records (kind VERIFY, name = the endpoint group, version = what ran when
it started); its card is posted once and edited every few samples, then with the verdict.

Rolling back on failure (`--auto-rollback`) is the caller's: it goes through the
deployment's Rollback, the same path a person's click takes (handlers.pipeline.verify).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from services.clock import isoformat, parse_iso
from services.deploy import approvals, registry, versions
from services.deploy.analysis.run import Analysis, AnalysisSummary
from services.deploy.analysis.settings import number_text
from services.deploy.engine.deps import DeployDeps
from services.deploy.settings import EnvironmentSettings, HealthCheck
from services.deploy.verify import Probed, measure
from services.errors import UserFacingError
from services.pipeline import records
from services.pipeline.choice import Named, choose
from services.pipeline.records import NewRun, PipelineRun, RunKind
from services.pipeline.verify_card import show

log = logging.getLogger(__name__)

MIN_SECONDS = 10
MAX_SECONDS = 3600
# The card is edited every this many samples (and at the end): live, not a flood of edits.
CARD_EVERY = 3
_DURATION = re.compile(r"([0-9]{1,5})([smh]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}

Outcome = Literal["passed", "failed", "inconclusive"]


class DurationError(UserFacingError):
    """A --duration that is not one (the message says what is accepted)."""


def parse_duration(text: str) -> float:
    """90s, 5m, 1h or a number of seconds, within MIN_SECONDS … MAX_SECONDS."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise DurationError(
            f"{text[:20]!r} is not a duration: use 90s, 5m, 1h or a number of seconds."
        )
    seconds = int(found.group(1)) * _UNIT[found.group(2)]
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise DurationError(
            f"{text[:20]} is out of range: a verification lasts from {MIN_SECONDS} s to"
            f" {MAX_SECONDS // 3600} h."
        )
    return float(seconds)


def expected_samples(seconds: float, interval: float) -> int:
    """One sample at the start, then one per interval until the end (the last one at it)."""
    return math.ceil(seconds / interval) + 1


def endpoint_group(
    service: str, environment: str, env: EnvironmentSettings, group: str | None
) -> str:
    """The group named, or the environment's only one; else an answer listing them."""
    named = Named(
        what="endpoint group",
        flag="--endpoints",
        where=f"{service}/{environment}",
        how_to_add=f"Add services.{service}.environments.{environment}.endpoints to the bot's"
        " configuration, e.g. {critical: [{url: https://…/healthz}]}.",
    )
    return choose(named, env.endpoints, group)


def checks_something(env: EnvironmentSettings, group: str) -> bool:
    """Whether a sample checks anything: an endpoint of the group, or a metric rule. A
    verification of nothing must never be recorded as passed."""
    return bool(env.endpoints.get(group)) or bool(env.analysis and env.analysis.queries)


@dataclass(frozen=True)
class Request:
    service: str
    environment: str
    group: str | None
    seconds: float
    auto_rollback: bool
    requested_by: str
    incident_id: str | None
    channel_id: str | None
    request_key: str | None
    inferred: tuple[str, ...] = ()


def start(deps: DeployDeps, req: Request) -> tuple[PipelineRun, bool, str | None]:
    """Check who asks and what, read the version running now, record the run and post its
    card; (run, created, a problem posting the card). A request key seen before returns that
    run: nothing runs twice."""
    env = approvals.target_settings(deps.settings, req.service, req.environment)
    approvals.require_requester(
        deps.settings,
        deps.chat,
        actor=req.requested_by,
        environment=req.environment,
        env=env,
        doing="verify",
    )
    group = endpoint_group(req.service, req.environment, env, req.group)
    if not checks_something(env, group):
        raise UserFacingError(
            f"Nothing would be checked: the endpoint group {group} of"
            f" {req.service}/{req.environment} has no endpoints and the environment has no"
            " analysis rules.",
            hint=f"Add URLs to services.{req.service}.environments.{req.environment}"
            f".endpoints.{group}, or analysis queries, to the bot's configuration.",
        )
    running = versions.running_now(
        deps, service=req.service, environment=req.environment, env=env, strategy=env.strategy
    )
    interval = min(env.verify_interval_seconds, req.seconds)
    started = deps.clock.now()
    summary = _metrics_summary(env)
    run, created = records.create(
        deps.store,
        clock=deps.clock,
        new=NewRun(
            kind=RunKind.VERIFY,
            service=req.service,
            environment=req.environment,
            version=str(running["version"]) if running.get("version") else None,
            name=group,
            requested_by=req.requested_by,
            incident_id=req.incident_id,
            channel_id=req.channel_id,
            request_key=req.request_key,
            detail={
                "seconds": req.seconds,
                "interval": interval,
                "expected": expected_samples(req.seconds, interval),
                "samples": 0,
                "ends_at": isoformat(started + timedelta(seconds=req.seconds)),
                "auto_rollback": req.auto_rollback,
                "running": str(running.get("summary") or ""),
                "inferred": list(req.inferred),
                "endpoints": [_endpoint(check, None) for check in env.endpoints[group]],
                "metrics": summary,
            },
        ),
    )
    problem = show(deps, run) if created else None
    return records.get(deps.store, run.id), created, problem


def run(deps: DeployDeps, run_id: str) -> PipelineRun:
    """Sample until the end of the duration or the first failure; finish the record once."""
    verification = records.get(deps.store, run_id)
    try:
        outcome, summary = _sample_all(deps, verification)
    except UserFacingError as exc:  # e.g. a broken analysis query: a person must fix it
        outcome, summary = "inconclusive", f"could not verify: {exc.message}"
    except Exception as exc:  # never leave the run `running`: say it stopped, and why
        log.exception("%s: verification stopped", run_id)
        outcome, summary = "inconclusive", f"verification stopped: {type(exc).__name__}"
    finished = records.finish(
        deps.store,
        clock=deps.clock,
        run_id=run_id,
        passed=outcome == "passed",
        summary=summary,
        outcome=outcome,
    )
    show(deps, finished)
    return finished


def note_rollback(deps: DeployDeps, run_id: str, rollback: dict[str, Any]) -> PipelineRun:
    """What --auto-rollback did (or why it did nothing), on the record and the card."""
    noted = records.merge_detail(deps.store, run_id, rollback=rollback)
    show(deps, noted)
    return noted


def _sample_all(deps: DeployDeps, verification: PipelineRun) -> tuple[Outcome, str]:
    env = approvals.target_settings(deps.settings, verification.service, verification.environment)
    checks = env.endpoints.get(verification.name, [])
    detail = verification.detail
    interval, expected = float(detail["interval"]), int(detail["expected"])
    ends_at = parse_iso(str(detail["ends_at"]))
    analysis = _analysis(env, verification, expected)
    samples = 0
    while True:
        probed = [(check, measure(check)) for check in checks]
        if analysis is not None and analysis.verdict() == "running":
            analysis.sample(deps.clock.now())
        samples += 1
        problems = [p.problem for _, p in probed if p.problem]
        metrics = analysis.summary() if analysis is not None else None
        left = (ends_at - deps.clock.now()).total_seconds()
        done = bool(problems) or (metrics is not None and metrics.verdict != "running")
        live = records.merge_detail(
            deps.store,
            verification.id,
            samples=samples,
            endpoints=[_endpoint(check, p) for check, p in probed],
            metrics=_metrics(metrics) if metrics is not None else detail["metrics"],
        )
        if not checks and metrics is None:  # the configuration changed under the run
            return "inconclusive", "nothing was checked: no endpoints and no analysis rules"
        if done or left <= 0:
            return _verdict(problems, metrics, samples)
        if samples % CARD_EVERY == 0:
            show(deps, live)
        deps.clock.sleep(min(interval, left))


def _verdict(
    problems: list[str], metrics: AnalysisSummary | None, samples: int
) -> tuple[Outcome, str]:
    if problems:
        return "failed", f"endpoint failed at sample {samples}: " + "; ".join(problems)
    if metrics is not None and metrics.verdict == "failed":
        return "failed", f"metrics failed: {metrics.reason}"
    if metrics is not None and metrics.verdict != "passed":
        # A breach still pending when the time is up was not judged: not a pass either.
        return "inconclusive", f"metrics inconclusive: {metrics.reason}"
    return "passed", f"{samples} healthy sample(s)" + (
        f", metrics within their thresholds ({metrics.samples} samples)" if metrics else ""
    )


def _analysis(env: EnvironmentSettings, run: PipelineRun, expected: int) -> Analysis | None:
    if env.analysis is None or not env.analysis.queries:
        return None
    context = registry.query_context(env, service=run.service, version=run.version)
    return Analysis.from_settings(env.analysis, context=context, count=expected)


def _endpoint(check: HealthCheck, probed: Probed | None) -> dict[str, Any]:
    return {
        "url": check.url,
        "state": "pending" if probed is None else ("ok" if probed.problem is None else "failed"),
        "status": probed.status if probed else None,
        "latency_ms": round(probed.latency_ms)
        if probed and probed.latency_ms is not None
        else None,
        "problem": probed.problem if probed else None,
    }


def _metrics_summary(env: EnvironmentSettings) -> list[dict[str, Any]]:
    """The metric rules before the first sample."""
    if env.analysis is None:
        return []
    return [
        {
            "name": q.name,
            "condition": q.condition,
            "value": None,
            "state": "pending",
            "reason": None,
        }
        for q in env.analysis.queries
    ]


def _metrics(summary: AnalysisSummary) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "condition": m.condition,
            "value": number_text(m.value),
            "state": "pending" if m.pending else (m.outcome or "pending"),
            "reason": m.reason,
        }
        for m in summary.metrics
    ]
