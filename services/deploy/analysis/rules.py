"""One query's result judged against its rule: pass, breach or inconclusive, and why.

The outcomes and how the worst one wins are described in the package's docstring
(services.deploy.analysis); `for_seconds` and the traffic floor are applied afterwards,
across samples, by the run (services.deploy.analysis.run).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.deploy.analysis.prometheus import QueryResult, Series
from services.deploy.analysis.settings import MetricQuery, number_text

Outcome = Literal["pass", "fail", "inconclusive"]

_SEVERITY: dict[Outcome, int] = {"pass": 0, "inconclusive": 1, "fail": 2}


def seconds_text(value: float) -> str:
    """How long a breach has held, as the reasons say it."""
    return f"{value:.0f}s" if value >= 10 else f"{value:.2g}s"


def worst_outcome(outcomes: Iterable[Outcome]) -> Outcome:
    found: Outcome = "pass"
    for outcome in outcomes:
        if _SEVERITY[outcome] > _SEVERITY[found]:
            found = outcome
    return found


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
        return worst_outcome(m.outcome for m in self.measurements)

    def measurement(self, name: str) -> Measurement:
        for item in self.measurements:
            if item.name == name:
                return item
        raise KeyError(name)


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
    value = number_text(worst.value)
    if worst_state == "breach":
        return Judgement(
            "breach", worst.value, f"{value}{where} {rule.comparison}{count}", worst.labels
        )
    return Judgement(
        "pass", worst.value, f"{value}{where}, fails when {rule.condition}{count}", worst.labels
    )


def requests_count(result: QueryResult) -> float | None:
    """The smallest non-NaN value of the request-count query; None for no data."""
    values = [value for value in result.values if not math.isnan(value)]
    return min(values) if values else None
