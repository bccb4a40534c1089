"""Metric analysis of a canary or of a fresh deployment: settings and decisions.

Modelled on Argo Rollouts' AnalysisTemplate (a condition per metric,
``failureLimit``, ``inconclusiveLimit``, inconclusive -> pause for a human)
and Flagger's metric checks (a threshold, "no data" is not a pass). The only
I/O goes through a :class:`Querier` (in production the
:class:`~services.deploy.analysis.prometheus.PrometheusClient`), so tests can feed values.

Semantics, precisely
--------------------

A *sample* evaluates every :class:`MetricQuery` once, at one instant.

Each query's result becomes a :class:`Measurement` with outcome ``pass``,
``fail`` or ``inconclusive``:

* **Breach**: the value compared with ``fail_when``/``threshold`` holds, e.g.
  ``0.2 > 0.05`` for an error-rate rule.
* **Empty vector** -> inconclusive ("no data"): nothing to judge is not a pass.
* **NaN** -> inconclusive: typically ``0/0`` (a ratio with no traffic) or
  ``histogram_quantile`` over empty buckets.
* **+Inf / -Inf** are compared as numbers: +Inf exceeds every threshold (it
  breaches ``>``/``>=`` rules and satisfies ``<``/``<=`` rules), -Inf is below
  every threshold. ``histogram_quantile`` yields +Inf when the quantile falls
  in the ``+Inf`` bucket, i.e. slower than the slowest finite bucket: a real
  breach of a latency rule; a ratio ``x/0`` with ``x > 0`` is +Inf and breaches
  an error-ratio rule.
* **Several series** -> each is judged; the worst wins (fail, then
  inconclusive, then pass); among equals the one furthest on the failing side
  of the threshold is reported, with its labels. Aggregate (``sum(...)``) if
  one idle pod's NaN should not make the whole sample inconclusive.
* **Prometheus unreachable / timed out / 5xx / refused credentials** ->
  inconclusive with the reason (after the first unavailable answer in a sample
  the remaining queries of that sample are not sent, so a dead server costs
  one timeout per sample, not one per query).
* **Broken PromQL** (HTTP 400/422 from Prometheus) -> :class:`AnalysisConfigError`
  naming the query: a person must fix the configuration; nothing is counted.

``for_seconds`` (like an alerting rule's ``for:``): a breach counts as a
*failure* only once the metric has breached in consecutive samples whose
times span at least ``for_seconds`` (first breaching sample to the current
one). Before that the measurement is ``pass`` with ``pending=True`` and a
reason saying how long it has held. A pass or an inconclusive sample ends
the streak. With ``for_seconds=0`` (default) every breaching sample fails.
With ``interval_seconds=60`` and ``for_seconds=120`` the third consecutive
breaching sample is the first failure; after that, each further breaching
sample fails too (as an alert stays firing).

``min_requests``: a request count queried first in every sample. When it is
below ``minimum`` -- or is empty, NaN or could not be read -- every
measurement of that sample is inconclusive ("too little traffic"; their values
are still reported), and breach streaks end.

A sample's outcome is the worst of its measurements. The analysis counts
failed and inconclusive samples (not measurements) and decides:

* ``failed`` as soon as ``failures > failure_limit`` (Argo's ``failureLimit``:
  with the default 2 the third failed sample aborts);
* else ``inconclusive`` as soon as ``inconclusive > inconclusive_limit``
  (default 1: the second inconclusive sample pauses for a human);
* else ``running`` until ``count`` samples were taken -- and while any metric is
  *pending* (a breach younger than its ``for_seconds``): the analysis never
  passes on a breach it has not finished judging, it takes more samples (at
  most about ``for_seconds / interval_seconds`` more) until the breach clears
  or becomes a failure;
* else ``passed``.

Query templates
---------------

``{service}``, ``{canary}``, ``{stable}``, ``{namespace}`` and ``{version}``
are replaced by plain string replacement (PromQL's own braces are left
alone); any other ``{...}`` is left as written. A placeholder without a
value for this analysis, or a value with characters that could break out of
a PromQL string (quotes, backslashes, braces, whitespace), is a configuration
error.

Canary examples (documentation; versions are label values of the pods)::

    queries:
      - name: canary-error-rate          # fails when > 1 % of requests are 5xx
        query: >-
          (sum(rate(http_requests_total{service="{service}",version="{canary}",status=~"5.."}[1m]))
            or vector(0))
          / sum(rate(http_requests_total{service="{service}",version="{canary}"}[1m]))
        fail_when: ">"
        threshold: 0.01
      - name: canary-p95-latency         # fails when p95 > 2 s
        query: >-
          histogram_quantile(0.95, sum(rate(
            http_request_duration_seconds_bucket{service="{service}",version="{canary}"}[1m]
          )) by (le))
        fail_when: ">"
        threshold: 2
    min_requests:
      query: sum(increase(http_requests_total{service="{service}",version="{canary}"}[1m]))
      minimum: 50

Why ``or vector(0)`` on the error numerator: a healthy service -- above all a
fresh canary -- has usually never answered a 5xx, so the 5xx series does not
exist and the ratio would be an empty vector, i.e. "no data" on every sample.
With ``or vector(0)`` it is 0 whenever there is traffic and still empty or NaN
when there is none.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.clock import Clock
from services.deploy.analysis.prometheus import (
    PrometheusClient,
    PrometheusConfigError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusUnavailableError,
    QueryResult,
    Series,
)
from services.errors import UserFacingError
from services.patterns import HttpUrlText

Outcome = Literal["pass", "fail", "inconclusive"]
Verdict = Literal["running", "passed", "failed", "inconclusive"]
Comparison = Literal[">", ">=", "<", "<="]

PLACEHOLDERS = ("service", "canary", "stable", "namespace", "version")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]+")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_SEVERITY: dict[Outcome, int] = {"pass": 0, "inconclusive": 1, "fail": 2}


class AnalysisConfigError(UserFacingError):
    """The analysis cannot run as configured (broken PromQL, missing token, placeholder)."""


# -- settings -----------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricQuery(_Section):
    name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$", description="Shown in Slack and on errors."
    )
    query: str = Field(
        min_length=1,
        description="PromQL; {service} {canary} {stable} {namespace} {version} are filled in.",
    )
    fail_when: Comparison = Field(description="The comparison that makes a sample breach.")
    threshold: float = Field(allow_inf_nan=False)
    for_seconds: float = Field(
        default=0,
        ge=0,
        allow_inf_nan=False,
        description="How long a breach must last (consecutive samples) to count as a failure.",
    )

    @property
    def comparison(self) -> str:
        """``"> 0.05"``: when one sample breaches."""
        return f"{self.fail_when} {_fmt(self.threshold)}"

    @property
    def condition(self) -> str:
        """``"> 0.05 for 120s"``: when this metric fails."""
        if self.for_seconds:
            return f"{self.comparison} for {self.for_seconds:g}s"
        return self.comparison

    def breaches(self, value: float) -> bool:
        return _COMPARE[self.fail_when](value, self.threshold)


class MinRequests(_Section):
    query: str = Field(min_length=1, description="PromQL giving the number of requests judged.")
    minimum: float = Field(gt=0, allow_inf_nan=False)


# The runbook's post-deployment rules. The error-rate numerator has `or vector(0)` so a
# service that never answered a 5xx reads 0, not "no data" (see the module docstring).
DEFAULT_POST_DEPLOY_RULES: tuple[MetricQuery, ...] = (
    MetricQuery(
        name="HighErrorRateAfterDeploy",
        query=(
            '(sum(rate(http_requests_total{status=~"5..",service="{service}"}[1m])) or vector(0))'
            ' / sum(rate(http_requests_total{service="{service}"}[1m]))'
        ),
        fail_when=">",
        threshold=0.05,
        for_seconds=120,
    ),
    MetricQuery(
        name="ResponseTimeRegression",
        query=(
            "histogram_quantile(0.95, sum(rate("
            'http_request_duration_seconds_bucket{service="{service}"}[1m])) by (le))'
        ),
        fail_when=">",
        threshold=2,
        for_seconds=180,
    ),
)


class AnalysisSettings(_Section):
    prometheus_url: HttpUrlText = Field(description="Base URL of Prometheus' API.")
    bearer_token_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding a bearer token for Prometheus.",
    )
    queries: list[MetricQuery] = Field(
        default_factory=lambda: list(DEFAULT_POST_DEPLOY_RULES), min_length=1
    )
    min_requests: MinRequests | None = None
    interval_seconds: float = Field(default=60, gt=0, allow_inf_nan=False)
    count: int = Field(default=5, ge=1, description="Samples in a complete analysis.")
    failure_limit: int = Field(
        default=2, ge=0, description="The analysis fails when failed samples > failure_limit."
    )
    inconclusive_limit: int = Field(
        default=1,
        ge=0,
        description="A human decides when inconclusive samples > inconclusive_limit.",
    )
    query_timeout_seconds: float = Field(default=10, gt=0, allow_inf_nan=False)

    @field_validator("queries")
    @classmethod
    def _unique_names(cls, queries: list[MetricQuery]) -> list[MetricQuery]:
        names = [query.name for query in queries]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"query names must be unique: {', '.join(duplicates)}")
        return queries


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
class Measurement:
    name: str
    value: float | None  # None: no value at all (no data, error); NaN is reported as NaN
    outcome: Outcome
    reason: str
    pending: bool = False  # breaching, but not yet for `for_seconds`
    labels: Mapping[str, str] = field(default_factory=dict)  # of the series reported


@dataclass(frozen=True)
class Sample:
    at: datetime
    measurements: tuple[Measurement, ...]
    requests: float | None = None  # the min_requests count, when configured and read
    requests_reason: str | None = None  # why the sample is inconclusive for traffic

    @property
    def outcome(self) -> Outcome:
        return _worst(m.outcome for m in self.measurements)

    def measurement(self, name: str) -> Measurement:
        for item in self.measurements:
            if item.name == name:
                return item
        raise KeyError(name)


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
            lines.append(f"• requests: {_fmt(self.requests)} (minimum {_fmt(self.min_requests)})")
        for metric in self.metrics:
            state: str = metric.outcome or "not sampled"
            if metric.pending:
                state = "pending"
            lines.append(
                f"• {metric.name}: {_fmt(metric.value)} (fails when {metric.condition}) "
                f"{state}; {metric.failures} failed, {metric.inconclusive} inconclusive"
            )
        return lines


# -- evaluation ---------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 else f"{value:.2g}s"


def _worst(outcomes: Iterable[Outcome]) -> Outcome:
    worst: Outcome = "pass"
    for outcome in outcomes:
        if _SEVERITY[outcome] > _SEVERITY[worst]:
            worst = outcome
    return worst


@dataclass(frozen=True)
class Judgement:
    """One query's result against its rule, before ``for_seconds`` is applied."""

    state: Literal["pass", "breach", "inconclusive"]
    value: float | None
    reason: str
    labels: Mapping[str, str] = field(default_factory=dict)
    skipped: bool = False  # not queried: Prometheus was unavailable earlier in the sample


def judge(rule: MetricQuery, result: QueryResult) -> Judgement:
    """Judge every series of ``result`` against ``rule``; the worst series wins."""
    if result.is_empty:
        return Judgement("inconclusive", None, "no data: the query returned no series")
    rank = {"pass": 0, "inconclusive": 1, "breach": 2}
    # On the failing side of the threshold, "more" means higher for > rules, lower for <.
    sign = 1.0 if rule.fail_when in (">", ">=") else -1.0
    worst: Series | None = None
    worst_state = "pass"
    for series in result.series:
        if math.isnan(series.value):
            state = "inconclusive"
        else:
            state = "breach" if rule.breaches(series.value) else "pass"
        if worst is None or rank[state] > rank[worst_state]:
            worst, worst_state = series, state
        elif (
            state == worst_state
            and state != "inconclusive"
            and sign * series.value > sign * worst.value
        ):
            worst = series
    assert worst is not None
    where = f" at {worst.describe()}" if len(result.series) > 1 else ""
    count = f" (worst of {len(result.series)} series)" if len(result.series) > 1 else ""
    if worst_state == "inconclusive":
        return Judgement(
            "inconclusive",
            worst.value,
            f"no data: NaN{where} (e.g. 0/0 with no traffic){count}",
            worst.labels,
        )
    value = _fmt(worst.value)
    if worst_state == "breach":
        return Judgement(
            "breach", worst.value, f"{value}{where} {rule.comparison}{count}", worst.labels
        )
    return Judgement(
        "pass", worst.value, f"{value}{where}, fails when {rule.condition}{count}", worst.labels
    )


def _requests_count(result: QueryResult) -> float | None:
    """The smallest non-NaN value of the request-count query; None for no data."""
    values = [value for value in result.values if not math.isnan(value)]
    return min(values) if values else None


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
                requests = _requests_count(self._query("min_requests", self.rendered_requests, at))
            except PrometheusError as exc:
                if isinstance(exc, PrometheusUnavailableError):
                    unavailable = exc.message
                low_traffic = f"request count unknown: {exc.message}"
            else:
                if requests is None:
                    low_traffic = "too little traffic: no requests counted (no data)"
                elif requests < minimum.minimum:
                    low_traffic = (
                        f"too little traffic: {_fmt(requests)} requests "
                        f"< minimum {_fmt(minimum.minimum)}"
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
                reason = f"{reason} (breaching for {_seconds(held)})"
            return Measurement(rule.name, judgement.value, "fail", reason, labels=judgement.labels)
        return Measurement(
            rule.name,
            judgement.value,
            "pass",
            f"{judgement.reason}: pending, breaching for {_seconds(held)} of {_seconds(rule.for_seconds)}",
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
