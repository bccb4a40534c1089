"""Canary analysis against a REAL Prometheus scraping a real instrumented app.

One Prometheus (scraping every second) and one metrics app serve the module;
each test uses its own service name, so the tests do not see each other's
traffic. Queries use [5s] rate windows so data is meaningful within seconds;
the tests poll Prometheus until data is there instead of sleeping blindly.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.clock import SystemClock
from services.deploy.analysis.run import (
    Analysis,
    AnalysisConfigError,
    QueryContext,
    run_analysis,
)
from services.deploy.analysis.settings import AnalysisSettings
from tests.harness.metrics_app import ERROR_RATE, P95, REQUESTS, MetricsApp
from tests.harness.prometheus_server import (
    PrometheusServer,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def canary_settings(prometheus: PrometheusServer, **overrides: Any) -> AnalysisSettings:
    data: dict[str, Any] = {
        "prometheus_url": prometheus.url,
        "queries": [
            {"name": "error-rate", "query": ERROR_RATE, "fail_when": ">", "threshold": 0.01},
            {"name": "p95-latency", "query": P95, "fail_when": ">", "threshold": 2},
        ],
        "min_requests": {"query": REQUESTS, "minimum": 20},
        "interval_seconds": 0.5,
        "count": 3,
        "failure_limit": 1,
        "inconclusive_limit": 1,
        "query_timeout_seconds": 5,
    }
    data.update(overrides)
    return AnalysisSettings.model_validate(data)


def render(template: str, service: str) -> str:
    return template.replace("{service}", service).replace("{canary}", "v2")


def wait_for_traffic(prometheus: PrometheusServer, service: str) -> None:
    """Until the canary's rate window holds at least two scrapes of traffic."""
    prometheus.wait_for(render(REQUESTS, service), lambda values: bool(values) and values[0] > 20)


def analyse(prometheus: PrometheusServer, service: str, **overrides: Any) -> Analysis:
    subject = Analysis.from_settings(
        canary_settings(prometheus, **overrides),
        context=QueryContext(service=service, canary="v2", stable="v1"),
    )
    run_analysis(subject, clock=SystemClock())
    return subject


def test_healthy_canary_passes(prometheus: PrometheusServer, metrics_app: MetricsApp) -> None:
    metrics_app.set_traffic("cart", "v1", requests_per_tick=20)
    metrics_app.set_traffic("cart", "v2", requests_per_tick=20, latency_seconds=0.08)
    wait_for_traffic(prometheus, "cart")
    # A healthy version never answered a 5xx: that series does not even exist.
    assert prometheus.values('http_requests_total{service="cart",status="500"}') == []

    subject = analyse(prometheus, "cart")

    summary = subject.summary()
    assert summary.verdict == "passed", summary.lines()
    assert (summary.samples, summary.failures, summary.inconclusive) == (3, 0, 0)
    error_rate, p95 = summary.metrics
    assert error_rate.value == 0.0  # `or vector(0)`: no 5xx series reads 0, not "no data"
    assert p95.value is not None and 0.05 < p95.value <= 0.1  # the 0.1 s bucket
    assert summary.requests is not None and summary.requests >= 20


def test_error_spike_fails_after_the_failure_limit(
    prometheus: PrometheusServer, metrics_app: MetricsApp
) -> None:
    metrics_app.set_traffic("payments", "v1", requests_per_tick=20)
    metrics_app.set_traffic("payments", "v2", requests_per_tick=20, error_ratio=0.25)
    wait_for_traffic(prometheus, "payments")

    subject = analyse(prometheus, "payments", count=10, failure_limit=1)

    summary = subject.summary()
    assert summary.verdict == "failed", summary.lines()
    # failure_limit 1: the first failed sample is tolerated, the second aborts.
    assert [s.outcome for s in subject.samples] == ["fail", "fail"]
    error_rate = summary.metrics[0]
    assert error_rate.value == pytest.approx(0.25, abs=0.05)
    assert error_rate.failures == 2 and summary.metrics[1].failures == 0
    assert "2 failed samples > failure limit 1" in summary.reason


def test_silent_canary_is_inconclusive_not_passed(
    prometheus: PrometheusServer, metrics_app: MetricsApp
) -> None:
    metrics_app.set_traffic("search", "v1", requests_per_tick=20)
    metrics_app.silence("search", "v2")  # deployed, instrumented, but receives no traffic
    prometheus.wait_for_value('sum(rate(http_requests_total{service="search",version="v2"}[5s]))')
    assert prometheus.values(render(ERROR_RATE, "search")) != [0.0]  # NaN: 0/0

    subject = analyse(prometheus, "search")

    summary = subject.summary()
    assert summary.verdict == "inconclusive", summary.lines()
    assert summary.samples == 2 and summary.failures == 0  # the 2nd inconclusive one pauses
    last = subject.samples[-1]
    assert last.requests == 0.0
    assert "too little traffic: 0 requests < minimum 20" in (last.requests_reason or "")
    assert "NaN" in last.measurement("error-rate").reason

    # Without a traffic floor the same canary is still not a pass: NaN is no data.
    bare = analyse(prometheus, "search", min_requests=None)
    assert bare.verdict() == "inconclusive"
    assert "NaN" in bare.samples[-1].measurement("p95-latency").reason


def test_latency_breach_trips_the_p95_rule_after_for_seconds(
    prometheus: PrometheusServer, metrics_app: MetricsApp
) -> None:
    metrics_app.set_traffic("images", "v1", requests_per_tick=20, latency_seconds=0.08)
    metrics_app.set_traffic("images", "v2", requests_per_tick=20, latency_seconds=3.0)
    wait_for_traffic(prometheus, "images")
    queries = [
        {"name": "error-rate", "query": ERROR_RATE, "fail_when": ">", "threshold": 0.01},
        {"name": "p95-latency", "query": P95, "fail_when": ">", "threshold": 2, "for_seconds": 1},
    ]

    subject = analyse(prometheus, "images", queries=queries, failure_limit=0, count=10)

    summary = subject.summary()
    assert summary.verdict == "failed", summary.lines()
    p95_over_time = [s.measurement("p95-latency") for s in subject.samples]
    assert p95_over_time[0].pending and p95_over_time[0].outcome == "pass"
    assert p95_over_time[-1].outcome == "fail"
    assert all(m.outcome == "pass" for m in (s.measurement("error-rate") for s in subject.samples))
    value = summary.metrics[1].value
    assert value is not None and 2.5 < value <= 5.0  # in the (2.5, 5] bucket


def test_broken_promql_names_the_query_with_prometheus_error(
    prometheus: PrometheusServer,
) -> None:
    queries = [
        {"name": "error-rate", "query": ERROR_RATE, "fail_when": ">", "threshold": 0.01},
        {
            "name": "typo",
            "query": "sum(rate(http_requests_total[5s])",
            "fail_when": ">",
            "threshold": 1,
        },
    ]
    subject = Analysis.from_settings(
        canary_settings(prometheus, queries=queries),
        context=QueryContext(service="cart", canary="v2"),
    )
    with pytest.raises(AnalysisConfigError, match=r"'typo' is broken: .*parse error"):
        subject.sample(SystemClock().now())
    assert subject.samples == ()
