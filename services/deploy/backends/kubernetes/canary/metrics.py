"""The canary's metric analysis, as the walk uses it: one Analysis per stage, its summary as
the card's table (typed `MetricRow`s), and the records of its decisions.

The analysis itself (queries, rules, verdicts) is services.deploy.analysis; this is glue.
"""

from __future__ import annotations

from services.deploy.analysis.run import (
    Analysis,
    AnalysisSummary,
    Querier,
    QueryContext,
    build_querier,
)
from services.deploy.analysis.settings import number_text
from services.deploy.backends.kubernetes.canary.records import (
    AnalysisFailed,
    FailedMetric,
    Inconclusive,
)
from services.deploy.backends.kubernetes.settings import CanarySettings
from services.deploy.live import MetricRow


def new_analysis(
    settings: CanarySettings,
    *,
    querier: Querier | None,
    context: QueryContext,
    seconds: float | None = None,
) -> Analysis | None:
    """The canary's analysis (None when it has none) for one stage of `seconds` (one sample
    per interval), or with its own count; AnalysisConfigError for queries that cannot be
    rendered."""
    analysis = settings.analysis
    if analysis is None:
        return None
    count = (
        max(1, int(seconds // analysis.interval_seconds + 1e-9)) if seconds is not None else None
    )
    return Analysis(
        analysis,
        querier=querier or build_querier(analysis),
        context=context,
        count=count,
    )


def metric_rows(summary: AnalysisSummary) -> tuple[MetricRow, ...]:
    """The card's table: the traffic check first (when configured), then each query."""
    rows = [
        MetricRow(
            name=m.name,
            value=number_text(m.value),
            condition=m.condition,
            outcome="pending" if m.pending else (m.outcome or "waiting"),
            reason=m.reason or "",
        )
        for m in summary.metrics
    ]
    if summary.min_requests is not None:
        enough = summary.requests is not None and summary.requests >= summary.min_requests
        rows.insert(
            0,
            MetricRow(
                name="requests",
                value=number_text(summary.requests),
                condition=f"< {number_text(summary.min_requests)} is too little traffic",
                outcome="waiting"
                if summary.samples == 0
                else ("pass" if enough else "inconclusive"),
            ),
        )
    return tuple(rows)


def inconclusive(summary: AnalysisSummary, *, at: str, rows: tuple[MetricRow, ...]) -> Inconclusive:
    """The analysis' call for a person; `rows`: the table the card shows with it."""
    return Inconclusive(at=at, reason=summary.reason, metrics=rows)


def failed(
    summary: AnalysisSummary, analysis: Analysis, *, at: str, rows: tuple[MetricRow, ...]
) -> AnalysisFailed:
    """The failure, naming the queries that failed (or, if none is failing now, those that
    failed samples) with the PromQL as sent; `rows`: the table the card shows with it."""
    failing = [m for m in summary.metrics if m.outcome == "fail"] or [
        m for m in summary.metrics if m.failures
    ]
    return AnalysisFailed(
        at=at,
        failing=tuple(
            FailedMetric(
                name=m.name,
                value=number_text(m.value),
                condition=m.condition,
                failures=m.failures,
                query=analysis.rendered[m.name],
            )
            for m in failing
        ),
        failures=summary.failures,
        failure_limit=summary.failure_limit,
        metrics=rows,
    )
