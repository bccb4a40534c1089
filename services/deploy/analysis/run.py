"""An analysis run: its queries rendered for this deployment, samples taken, a verdict.

The only I/O goes through a :class:`Querier` (in production the
:class:`~services.deploy.analysis.prometheus.PrometheusClient`), so tests can feed values.
The semantics (samples, limits, `for_seconds`, the traffic floor, placeholders) are in the
package's docstring (services.deploy.analysis).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from services.clock import Clock
from services.deploy.analysis.prometheus import (
    PrometheusClient,
    PrometheusConfigError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusUnavailableError,
    QueryResult,
)
from services.deploy.analysis.rules import (
    Judgement,
    Measurement,
    Outcome,
    Sample,
    judge,
    requests_count,
    seconds_text,
)
from services.deploy.analysis.settings import (
    AnalysisSettings,
    Comparison,
    MetricQuery,
    number_text,
)
from services.errors import UserFacingError

Verdict = Literal["running", "passed", "failed", "inconclusive"]

PLACEHOLDERS = ("service", "canary", "stable", "namespace", "version")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]+")


class AnalysisConfigError(UserFacingError):
    """The analysis cannot run as configured (broken PromQL, missing token, placeholder)."""


# -- templates ----------------------------------------------------------------


@dataclass(frozen=True)
class QueryContext:
    """What the placeholders of a query stand for in this analysis."""

    service: str
    namespace: str | None = None
    version: str | None = None
    canary: str | None = None
    stable: str | None = None


def render_query(template: str, context: QueryContext, *, name: str = "query") -> str:
    """Replace only the known ``{placeholder}`` names; PromQL's braces stay as they are."""
    rendered = template
    for placeholder in PLACEHOLDERS:
        token = "{" + placeholder + "}"
        if token not in rendered:
            continue
        value = getattr(context, placeholder)
        if value is None:
            raise AnalysisConfigError(
                f"Analysis query {name!r} uses {token}, but this analysis has no {placeholder}.",
                hint=f"Use it only where a {placeholder} exists (canary analyses), or remove it.",
            )
        if not _SAFE_VALUE.fullmatch(value):
            raise AnalysisConfigError(
                f"Cannot put {value!r} into analysis query {name!r} as {token}: "
                "only letters, digits and _ . : / @ + - are allowed.",
            )
        rendered = rendered.replace(token, value)
    return rendered


# -- results ------------------------------------------------------------------


class Querier(Protocol):
    def query(self, promql: str, *, at: datetime | None = None) -> QueryResult:
        """Evaluate an instant query at ``at``; raises PrometheusError subclasses."""
        ...


@dataclass(frozen=True)
class MetricSummary:
    name: str
    condition: str  # "> 0.05 for 120s"
    fail_when: Comparison
    threshold: float
    for_seconds: float
    value: float | None  # the last sample's
    outcome: Outcome | None  # None before the first sample
    reason: str | None
    pending: bool
    failures: int
    inconclusive: int


@dataclass(frozen=True)
class AnalysisSummary:
    verdict: Verdict
    reason: str
    samples: int
    count: int
    failures: int
    failure_limit: int
    inconclusive: int
    inconclusive_limit: int
    metrics: tuple[MetricSummary, ...]
    requests: float | None = None
    min_requests: float | None = None

    def lines(self) -> list[str]:
        """Plain text (Slack fallback text, console)."""
        head = (
            f"Analysis {self.verdict}: {self.reason} ({self.samples}/{self.count} samples, "
            f"{self.failures} failed (limit {self.failure_limit}), {self.inconclusive} "
            f"inconclusive (limit {self.inconclusive_limit}))"
        )
        lines = [head]
        if self.min_requests is not None:
            lines.append(
                f"• requests: {number_text(self.requests)} (minimum {number_text(self.min_requests)})"
            )
        for metric in self.metrics:
            state: str = metric.outcome or "not sampled"
            if metric.pending:
                state = "pending"
            lines.append(
                f"• {metric.name}: {number_text(metric.value)} (fails when {metric.condition}) "
                f"{state}; {metric.failures} failed, {metric.inconclusive} inconclusive"
            )
        return lines


# -- the analysis -------------------------------------------------------------


class Analysis:
    """One analysis run: take samples, keep counts, decide.

    Not thread-safe: one run belongs to one worker. ``sample(at)`` must be
    given advancing times (``for_seconds`` is measured between them).
    """

    def __init__(
        self,
        settings: AnalysisSettings,
        *,
        querier: Querier,
        context: QueryContext,
        count: int | None = None,
    ) -> None:
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        self.settings = settings
        self.querier = querier
        self.context = context
        self.count = count if count is not None else settings.count
        # Rendered up front: a bad placeholder is reported before the first sample.
        self.rendered = {
            rule.name: render_query(rule.query, context, name=rule.name)
            for rule in settings.queries
        }
        self.rendered_requests = (
            render_query(settings.min_requests.query, context, name="min_requests")
            if settings.min_requests
            else None
        )
        self._samples: list[Sample] = []
        self._breach_since: dict[str, datetime | None] = {r.name: None for r in settings.queries}
        self.failures = 0
        self.inconclusive = 0

    @classmethod
    def from_settings(
        cls,
        settings: AnalysisSettings,
        *,
        context: QueryContext,
        count: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Analysis:
        """An analysis querying the configured Prometheus."""
        return cls(
            settings, querier=build_querier(settings, environ=environ), context=context, count=count
        )

    @property
    def samples(self) -> tuple[Sample, ...]:
        return tuple(self._samples)

    # -- sampling -------------------------------------------------------------

    def _query(self, name: str, promql: str, at: datetime) -> QueryResult:
        try:
            return self.querier.query(promql, at=at)
        except PrometheusQueryError as exc:
            raise AnalysisConfigError(
                f"Analysis query {name!r} is broken: {exc.error}",
                hint=f"Fix this query in the analysis configuration. Sent to Prometheus: {promql}",
            ) from exc

    def sample(self, at: datetime) -> Sample:
        """Evaluate every query once at ``at`` and count the result."""
        verdict = self.verdict()
        if verdict != "running":
            raise RuntimeError(f"the analysis is finished ({verdict}); start a new one")
        if at.tzinfo is None:
            raise ValueError("sample times must be timezone-aware")
        unavailable: str | None = None  # once Prometheus is down, skip the rest

        requests: float | None = None
        low_traffic: str | None = None
        minimum = self.settings.min_requests
        if minimum is not None and self.rendered_requests is not None:
            try:
                requests = requests_count(self._query("min_requests", self.rendered_requests, at))
            except PrometheusError as exc:
                if isinstance(exc, PrometheusUnavailableError):
                    unavailable = exc.message
                low_traffic = f"request count unknown: {exc.message}"
            else:
                if requests is None:
                    low_traffic = "too little traffic: no requests counted (no data)"
                elif requests < minimum.minimum:
                    low_traffic = (
                        f"too little traffic: {number_text(requests)} requests "
                        f"< minimum {number_text(minimum.minimum)}"
                    )

        measurements: list[Measurement] = []
        for rule in self.settings.queries:
            if unavailable is not None:
                judgement = Judgement(
                    "inconclusive", None, f"not queried: {unavailable}", skipped=True
                )
            else:
                try:
                    result = self._query(rule.name, self.rendered[rule.name], at)
                except PrometheusError as exc:
                    if isinstance(exc, PrometheusUnavailableError):
                        unavailable = exc.message
                    judgement = Judgement("inconclusive", None, exc.message)
                else:
                    judgement = judge(rule, result)
            measurements.append(self._apply(rule, judgement, at, low_traffic))

        sample = Sample(at, tuple(measurements), requests, low_traffic)
        self._samples.append(sample)
        if sample.outcome == "fail":
            self.failures += 1
        elif sample.outcome == "inconclusive":
            self.inconclusive += 1
        return sample

    def _apply(
        self, rule: MetricQuery, judgement: Judgement, at: datetime, low_traffic: str | None
    ) -> Measurement:
        """Turn a judgement into a measurement: traffic floor, then ``for_seconds``."""
        if low_traffic is not None or judgement.state == "inconclusive":
            self._breach_since[rule.name] = None
            reason = judgement.reason
            if low_traffic is not None and judgement.state != "inconclusive":
                reason = f"{low_traffic}; not judged ({judgement.reason})"
            elif low_traffic is not None and not judgement.skipped:
                reason = f"{low_traffic}; {judgement.reason}"
            return Measurement(
                rule.name, judgement.value, "inconclusive", reason, labels=judgement.labels
            )
        if judgement.state == "pass":
            self._breach_since[rule.name] = None
            return Measurement(
                rule.name, judgement.value, "pass", judgement.reason, labels=judgement.labels
            )
        since = self._breach_since[rule.name]
        if since is None or since > at:
            since = self._breach_since[rule.name] = at
        held = (at - since).total_seconds()
        if held >= rule.for_seconds:
            reason = judgement.reason
            if rule.for_seconds:
                reason = f"{reason} (breaching for {seconds_text(held)})"
            return Measurement(rule.name, judgement.value, "fail", reason, labels=judgement.labels)
        return Measurement(
            rule.name,
            judgement.value,
            "pass",
            f"{judgement.reason}: pending, breaching for {seconds_text(held)} of {seconds_text(rule.for_seconds)}",
            pending=True,
            labels=judgement.labels,
        )

    # -- deciding -------------------------------------------------------------

    @property
    def pending(self) -> list[str]:
        """Metrics whose breach is younger than their ``for_seconds`` at the last sample."""
        if not self._samples:
            return []
        return [m.name for m in self._samples[-1].measurements if m.pending]

    def verdict(self) -> Verdict:
        if self.failures > self.settings.failure_limit:
            return "failed"
        if self.inconclusive > self.settings.inconclusive_limit:
            return "inconclusive"
        if len(self._samples) < self.count or self.pending:
            return "running"
        return "passed"

    def _verdict_reason(self, verdict: Verdict) -> str:
        last = self._samples[-1] if self._samples else None
        if verdict == "failed" and last is not None:
            failing = [f"{m.name} {m.reason}" for m in last.measurements if m.outcome == "fail"]
            return (
                f"{self.failures} failed samples > failure limit "
                f"{self.settings.failure_limit}: " + "; ".join(failing)
            )
        if verdict == "inconclusive" and last is not None:
            why = [f"{m.name}: {m.reason}" for m in last.measurements if m.outcome != "pass"]
            return (
                f"{self.inconclusive} inconclusive samples > limit "
                f"{self.settings.inconclusive_limit}, a person must decide: " + "; ".join(why)
            )
        if verdict == "passed":
            return "every metric within its threshold"
        if self.pending:
            return f"breach pending on {', '.join(self.pending)}: sampling on"
        return f"{len(self._samples)} of {self.count} samples taken"

    def summary(self) -> AnalysisSummary:
        """Data for a Slack message: each metric's last value against its threshold, counts."""
        last = self._samples[-1] if self._samples else None
        metrics = []
        for rule in self.settings.queries:
            latest = last.measurement(rule.name) if last else None
            outcomes = [s.measurement(rule.name).outcome for s in self._samples]
            metrics.append(
                MetricSummary(
                    name=rule.name,
                    condition=rule.condition,
                    fail_when=rule.fail_when,
                    threshold=rule.threshold,
                    for_seconds=rule.for_seconds,
                    value=latest.value if latest else None,
                    outcome=latest.outcome if latest else None,
                    reason=latest.reason if latest else None,
                    pending=latest.pending if latest else False,
                    failures=outcomes.count("fail"),
                    inconclusive=outcomes.count("inconclusive"),
                )
            )
        verdict = self.verdict()
        return AnalysisSummary(
            verdict=verdict,
            reason=self._verdict_reason(verdict),
            samples=len(self._samples),
            count=self.count,
            failures=self.failures,
            failure_limit=self.settings.failure_limit,
            inconclusive=self.inconclusive,
            inconclusive_limit=self.settings.inconclusive_limit,
            metrics=tuple(metrics),
            requests=last.requests if last else None,
            min_requests=self.settings.min_requests.minimum if self.settings.min_requests else None,
        )


def build_querier(
    settings: AnalysisSettings, *, environ: Mapping[str, str] | None = None
) -> PrometheusClient:
    """The Prometheus client the settings describe (token read from the environment)."""
    try:
        return PrometheusClient.from_env(
            settings.prometheus_url,
            bearer_token_env=settings.bearer_token_env,
            timeout=settings.query_timeout_seconds,
            environ=environ,
        )
    except PrometheusConfigError as exc:
        raise AnalysisConfigError(
            f"Cannot query Prometheus: {exc.message}",
            hint="Set the variable in the bot's environment, or fix analysis.prometheus_url.",
        ) from exc


def run_analysis(
    analysis: Analysis,
    *,
    clock: Clock,
    on_sample: Callable[[Sample], None] | None = None,
    should_abort: Callable[[], bool] | None = None,
    interval_seconds: float | None = None,
) -> Verdict:
    """Sample every interval until a verdict; ``running`` is returned only when aborted."""
    interval = (
        interval_seconds if interval_seconds is not None else analysis.settings.interval_seconds
    )
    while True:
        if should_abort is not None and should_abort():
            return analysis.verdict()
        sample = analysis.sample(clock.now())
        if on_sample is not None:
            on_sample(sample)
        verdict = analysis.verdict()
        if verdict != "running":
            return verdict
        clock.sleep(interval)
