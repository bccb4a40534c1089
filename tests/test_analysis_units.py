"""Canary analysis: the Prometheus client against a local stand-in, and the decision logic."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from services.clock import ManualClock
from services.deploy.analysis.prometheus import (
    PrometheusAuthError,
    PrometheusClient,
    PrometheusConfigError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusUnavailableError,
    QueryResult,
    Series,
)
from services.deploy.analysis.rules import Sample, judge
from services.deploy.analysis.run import (
    Analysis,
    AnalysisConfigError,
    QueryContext,
    build_querier,
    render_query,
    run_analysis,
)
from services.deploy.analysis.settings import (
    DEFAULT_POST_DEPLOY_RULES,
    AnalysisSettings,
    MetricQuery,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
TOKEN = "s3cr3t-t0ken-value"


# -- a stand-in for Prometheus' HTTP API -------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"


def vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": labels, "value": [1773480600.0, value]} for labels, value in series
            ],
        },
    }


class PrometheusStandIn:
    """Answers /api/v1/query with whatever ``respond(query)`` returns; records requests."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.respond: Callable[[str], Reply] = lambda query: Reply(body=vector())
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                raw = parsed.query
                if self.command == "POST":
                    raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                params = dict(urllib.parse.parse_qsl(raw))
                stand_in.seen.append(
                    Seen(self.command, parsed.path, params, dict(self.headers.items()))
                )
                reply = (
                    stand_in.respond(params.get("query", ""))
                    if parsed.path.endswith("/api/v1/query")
                    else Reply(404, "404 page not found\n", content_type="text/plain")
                )
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                data = json.dumps(body).encode() if isinstance(body, dict) else body
                data = data.encode() if isinstance(data, str) else data
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def prom() -> Iterator[PrometheusStandIn]:
    stand_in = PrometheusStandIn()
    yield stand_in
    stand_in.stop()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- the client ----------------------------------------------------------------------


def test_vector_with_several_series_and_special_values(prom: PrometheusStandIn) -> None:
    prom.respond = lambda q: Reply(
        body=vector(
            ({"pod": "a"}, "0.25"),
            ({"pod": "b"}, "NaN"),
            ({"pod": "c"}, "+Inf"),
            ({"pod": "d"}, "-Inf"),
            ({}, "1e-05"),
        )
    )
    result = PrometheusClient(prom.url).query("errors")
    assert result.result_type == "vector"
    assert [s.labels for s in result.series] == [
        {"pod": "a"},
        {"pod": "b"},
        {"pod": "c"},
        {"pod": "d"},
        {},
    ]
    values = result.values
    assert values[0] == 0.25 and math.isnan(values[1])
    assert values[2] == math.inf and values[3] == -math.inf and values[4] == 1e-05
    assert result.series[0].timestamp == 1773480600.0
    assert result.series[0].describe() == '{pod="a"}'


def test_scalar_and_empty_vector(prom: PrometheusStandIn) -> None:
    client = PrometheusClient(prom.url)
    prom.respond = lambda q: Reply(
        body={"status": "success", "data": {"resultType": "scalar", "result": [1.5, "NaN"]}}
    )
    scalar = client.query("scalar(x)")
    assert scalar.result_type == "scalar" and math.isnan(scalar.values[0])
    prom.respond = lambda q: Reply(body=vector())
    assert client.query("absent_metric").is_empty


def test_range_vector_result_is_a_query_error(prom: PrometheusStandIn) -> None:
    prom.respond = lambda q: Reply(
        body={"status": "success", "data": {"resultType": "matrix", "result": []}}
    )
    with pytest.raises(PrometheusQueryError, match="matrix") as caught:
        PrometheusClient(prom.url).query("up[5m]")
    assert not caught.value.retryable


def test_post_form_with_time_and_timeout_and_get_variant(prom: PrometheusStandIn) -> None:
    PrometheusClient(prom.url + "/prefix/", timeout=3).query('up{job="x"}', at=T0)
    PrometheusClient(prom.url, method="GET").query("up")
    post, get = prom.seen
    assert post.method == "POST" and post.path == "/prefix/api/v1/query"
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert post.params == {
        "query": 'up{job="x"}',
        "time": f"{T0.timestamp():.3f}",
        "timeout": "3.000",
    }
    assert get.method == "GET" and get.path == "/api/v1/query"
    assert get.params["query"] == "up" and "time" not in get.params
    assert "Authorization" not in get.headers


def test_bad_promql_is_a_query_error_with_prometheus_text(prom: PrometheusStandIn) -> None:
    prom.respond = lambda q: Reply(
        400,
        {
            "status": "error",
            "errorType": "bad_data",
            "error": '1:14: parse error: unexpected "}"',
        },
    )
    with pytest.raises(PrometheusQueryError) as caught:
        PrometheusClient(prom.url).query("sum(rate(x}))")
    assert not caught.value.retryable
    assert 'parse error: unexpected "}"' in str(caught.value)
    assert caught.value.query == "sum(rate(x}))" and caught.value.error_type == "bad_data"

    prom.respond = lambda q: Reply(
        422,
        {"status": "error", "errorType": "execution", "error": "many-to-many matching"},
    )
    with pytest.raises(PrometheusQueryError, match="many-to-many"):
        PrometheusClient(prom.url).query("a / b")


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        (
            Reply(503, {"status": "error", "errorType": "timeout", "error": "query timed out"}),
            "query timed out",
        ),
        (Reply(502, "<html>Bad Gateway</html>", content_type="text/html"), "Bad Gateway"),
        (Reply(429, "slow down", content_type="text/plain"), "429"),
    ],
)
def test_5xx_and_429_are_unavailable_and_retryable(
    prom: PrometheusStandIn, reply: Reply, text: str
) -> None:
    prom.respond = lambda q: reply
    with pytest.raises(PrometheusUnavailableError, match=text) as caught:
        PrometheusClient(prom.url).query("up")
    assert caught.value.retryable and caught.value.status == reply.status


def test_slow_answer_times_out_as_unavailable(prom: PrometheusStandIn) -> None:
    prom.respond = lambda q: Reply(body=vector(({}, "1")), delay=1.0)
    started = time.monotonic()
    with pytest.raises(PrometheusUnavailableError, match=r"did not answer within 0\.2 s") as caught:
        PrometheusClient(prom.url, timeout=0.2).query("up")
    assert caught.value.retryable
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_unavailable() -> None:
    with pytest.raises(PrometheusUnavailableError, match="unreachable") as caught:
        PrometheusClient(closed_port_url()).query("up")
    assert caught.value.retryable


def test_wrong_url_and_non_json_are_not_retryable(prom: PrometheusStandIn) -> None:
    client = PrometheusClient(prom.url + "/nope")
    prom.respond = lambda q: Reply(404, "404 page not found", content_type="text/plain")
    with pytest.raises(PrometheusError, match=r"HTTP 404.*is the URL right") as caught:
        client.query("up")
    assert type(caught.value) is PrometheusError and not caught.value.retryable
    prom.respond = lambda q: Reply(400, "<html>Bad Request</html>", content_type="text/html")
    with pytest.raises(PrometheusError, match="HTTP 400") as proxy:
        PrometheusClient(prom.url).query("up")
    assert not isinstance(proxy.value, PrometheusQueryError)  # not a verdict on the PromQL
    prom.respond = lambda q: Reply(200, "<html>login</html>", content_type="text/html")
    with pytest.raises(PrometheusError, match="did not answer with Prometheus' API JSON"):
        PrometheusClient(prom.url).query("up")


def test_bearer_token_sent_and_never_leaked(prom: PrometheusStandIn) -> None:
    client = PrometheusClient.from_env(
        prom.url, bearer_token_env="PROM_TOKEN", environ={"PROM_TOKEN": TOKEN}
    )
    client.query("up")
    assert prom.seen[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(client) and "$PROM_TOKEN" in repr(client)

    # A proxy that echoes the request headers in its error page must not leak the token.
    prom.respond = lambda q: Reply(
        401, f"unauthorized: Authorization: Bearer {TOKEN}", content_type="text/plain"
    )
    with pytest.raises(PrometheusAuthError) as auth:
        client.query("up")
    assert TOKEN not in str(auth.value) and "$PROM_TOKEN" in str(auth.value)
    assert not auth.value.retryable
    prom.respond = lambda q: Reply(500, f"echo {TOKEN}", content_type="text/plain")
    with pytest.raises(PrometheusUnavailableError) as down:
        client.query("up")
    assert TOKEN not in str(down.value) and "***" in str(down.value)
    prom.respond = lambda q: Reply(
        400, {"status": "error", "errorType": "bad_data", "error": TOKEN}
    )
    with pytest.raises(PrometheusQueryError) as bad:
        client.query("up")
    assert TOKEN not in str(bad.value) and TOKEN not in bad.value.error


def test_missing_token_variable_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(PrometheusConfigError, match="PROM_TOKEN"):
        PrometheusClient.from_env("http://prom:9090", bearer_token_env="PROM_TOKEN", environ={})
    with pytest.raises(PrometheusConfigError, match="not an http"):
        PrometheusClient("file:///etc/passwd")
    settings = AnalysisSettings(prometheus_url="http://prom:9090", bearer_token_env="PROM_TOKEN")
    with pytest.raises(AnalysisConfigError, match="PROM_TOKEN"):
        build_querier(settings, environ={})


def test_password_in_url_is_not_shown() -> None:
    with pytest.raises(PrometheusUnavailableError) as caught:
        PrometheusClient(closed_port_url().replace("//", "//user:hunter2@")).query("up")
    assert "hunter2" not in str(caught.value)


# -- settings and templates --------------------------------------------------------


def test_default_post_deploy_rules_are_the_runbooks() -> None:
    error_rate, latency = DEFAULT_POST_DEPLOY_RULES
    assert (error_rate.name, error_rate.fail_when, error_rate.threshold) == (
        "HighErrorRateAfterDeploy",
        ">",
        0.05,
    )
    assert error_rate.for_seconds == 120
    assert error_rate.query == (
        '(sum(rate(http_requests_total{status=~"5..",service="{service}"}[1m])) or vector(0))'
        ' / sum(rate(http_requests_total{service="{service}"}[1m]))'
    )
    assert (latency.name, latency.threshold, latency.for_seconds) == (
        "ResponseTimeRegression",
        2,
        180,
    )
    assert latency.query == (
        "histogram_quantile(0.95, sum(rate("
        'http_request_duration_seconds_bucket{service="{service}"}[1m])) by (le))'
    )
    settings = AnalysisSettings(prometheus_url="http://prom:9090")
    assert tuple(settings.queries) == DEFAULT_POST_DEPLOY_RULES
    assert (settings.interval_seconds, settings.failure_limit, settings.inconclusive_limit) == (
        60,
        2,
        1,
    )


def test_settings_are_strict() -> None:
    rule = {"name": "err", "query": "x", "fail_when": ">", "threshold": 0.01}
    with pytest.raises(ValidationError, match="extra"):
        AnalysisSettings.model_validate({"prometheus_url": "http://p", "queries": [rule], "x": 1})
    with pytest.raises(ValidationError, match="unique"):
        AnalysisSettings.model_validate({"prometheus_url": "http://p", "queries": [rule, rule]})
    with pytest.raises(ValidationError):
        MetricQuery.model_validate({**rule, "threshold": "NaN"})
    with pytest.raises(ValidationError):
        MetricQuery.model_validate({**rule, "fail_when": "=="})
    with pytest.raises(ValidationError):
        AnalysisSettings.model_validate({"prometheus_url": "ftp://p"})
    with pytest.raises(ValidationError):
        AnalysisSettings.model_validate({"prometheus_url": "http://p", "queries": []})
    settings = AnalysisSettings.model_validate({"prometheus_url": "http://p", "queries": [rule]})
    with pytest.raises(ValidationError):
        settings.failure_limit = 5


def test_template_substitutes_only_known_placeholders() -> None:
    context = QueryContext(
        service="checkout", namespace="shop", version="v2.1.1", canary="v2.1.1", stable="v2.1.0"
    )
    template = (
        'sum(rate(x{service="{service}",ns="{namespace}",version=~"{canary}|{stable}"}[1m]))'
        " / {version} + {other} + {{service}}"
    )
    assert render_query(template, context) == (
        'sum(rate(x{service="checkout",ns="shop",version=~"v2.1.1|v2.1.0"}[1m]))'
        " / v2.1.1 + {other} + {checkout}"
    )
    with pytest.raises(AnalysisConfigError, match=r"'err' uses \{canary\}"):
        render_query('x{v="{canary}"}', QueryContext(service="checkout"), name="err")
    with pytest.raises(AnalysisConfigError, match="Cannot put"):
        render_query('x{s="{service}"}', QueryContext(service='a"} or vector(1) #'))


# -- judging one result ----------------------------------------------------------


def rule(fail_when: str = ">", threshold: float = 0.01, for_seconds: float = 0) -> MetricQuery:
    return MetricQuery.model_validate(
        {
            "name": "err",
            "query": "q",
            "fail_when": fail_when,
            "threshold": threshold,
            "for_seconds": for_seconds,
        }
    )


def result(*values: float, labels: list[dict[str, str]] | None = None) -> QueryResult:
    names = labels or [{"pod": f"p{i}"} for i in range(len(values))]
    return QueryResult("vector", tuple(Series(v, n) for v, n in zip(values, names, strict=True)))


def test_judge_empty_nan_and_infinities() -> None:
    assert judge(rule(), result()).state == "inconclusive"
    assert "no data" in judge(rule(), result()).reason
    nan = judge(rule(), result(math.nan))
    assert nan.state == "inconclusive" and "NaN" in nan.reason
    assert judge(rule(">"), result(math.inf)).state == "breach"
    assert judge(rule(">="), result(math.inf)).state == "breach"
    assert judge(rule("<"), result(math.inf)).state == "pass"
    assert judge(rule("<"), result(-math.inf)).state == "breach"
    assert judge(rule(">"), result(-math.inf)).state == "pass"
    scalar = QueryResult("scalar", (Series(0.5),))
    assert judge(rule(), scalar).state == "breach"


def test_judge_threshold_boundaries() -> None:
    assert judge(rule(">", 0.01), result(0.01)).state == "pass"
    assert judge(rule(">=", 0.01), result(0.01)).state == "breach"
    assert judge(rule("<", 0.99), result(0.99)).state == "pass"
    assert judge(rule("<=", 0.99), result(0.99)).state == "breach"


def test_judge_several_series_worst_wins() -> None:
    both = judge(rule(">"), result(0.001, 0.2, 0.5, math.nan))
    assert both.state == "breach" and both.value == 0.5 and both.labels == {"pod": "p2"}
    assert 'pod="p2"' in both.reason and "worst of 4 series" in both.reason
    nan_and_pass = judge(rule(">"), result(0.001, math.nan))
    assert nan_and_pass.state == "inconclusive" and nan_and_pass.labels == {"pod": "p1"}
    passing = judge(rule(">"), result(0.001, 0.004))
    assert passing.state == "pass" and passing.value == 0.004  # the closest to failing
    low = judge(rule("<", 0.99), result(0.995, 0.9, 0.95))
    assert low.state == "breach" and low.value == 0.9


# -- the analysis ------------------------------------------------------------------


class FakeQuerier:
    """Answers from a script: query text -> a list of values / an exception, one per call."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = {query: list(answers) for query, answers in script.items()}
        self.calls: list[tuple[str, datetime | None]] = []

    def query(self, promql: str, *, at: datetime | None = None) -> QueryResult:
        self.calls.append((promql, at))
        answers = self.script[promql]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, QueryResult):
            return answer
        values = answer if isinstance(answer, list) else [answer]
        return result(*values)


def settings(**overrides: Any) -> AnalysisSettings:
    data: dict[str, Any] = {
        "prometheus_url": "http://prom:9090",
        "queries": [
            {
                "name": "error-rate",
                "query": 'err{v="{canary}"}',
                "fail_when": ">",
                "threshold": 0.01,
            },
            {"name": "p95", "query": 'p95{v="{canary}"}', "fail_when": ">", "threshold": 2},
        ],
        "interval_seconds": 60,
        "count": 3,
    }
    data.update(overrides)
    return AnalysisSettings.model_validate(data)


CANARY = QueryContext(service="checkout", canary="v2")


def analysis(querier: FakeQuerier, **overrides: Any) -> Analysis:
    return Analysis(settings(**overrides), querier=querier, context=CANARY)


def run(subject: Analysis, samples: int) -> list[str]:
    """Take up to `samples` samples a minute apart; the verdict after each."""
    verdicts: list[str] = []
    for i in range(samples):
        subject.sample(T0 + timedelta(seconds=60 * i))
        verdicts.append(subject.verdict())
        if verdicts[-1] != "running":
            break
    return verdicts


def test_healthy_canary_passes_after_count_samples() -> None:
    querier = FakeQuerier({'err{v="v2"}': [0.001], 'p95{v="v2"}': [0.3]})
    subject = analysis(querier)
    assert run(subject, 5) == ["running", "running", "passed"]
    minutes = [0, 0, 1, 1, 2, 2]  # both queries, evaluated at each sample's time
    assert [at for _, at in querier.calls] == [T0 + timedelta(minutes=m) for m in minutes]
    with pytest.raises(RuntimeError, match="finished"):
        subject.sample(T0 + timedelta(minutes=10))


def test_failure_limit_is_exceeded_not_reached() -> None:
    querier = FakeQuerier({'err{v="v2"}': [0.2], 'p95{v="v2"}': [0.3]})
    subject = analysis(querier, count=10, failure_limit=2)
    assert run(subject, 10) == ["running", "running", "failed"]
    assert subject.failures == 3
    summary = subject.summary()
    assert summary.verdict == "failed" and "3 failed samples > failure limit 2" in summary.reason
    assert "error-rate 0.2 > 0.01" in summary.reason

    zero = analysis(FakeQuerier({'err{v="v2"}': [0.2], 'p95{v="v2"}': [0.3]}), failure_limit=0)
    assert run(zero, 3) == ["failed"]


def test_isolated_failures_within_the_limit_still_pass() -> None:
    querier = FakeQuerier({'err{v="v2"}': [0.001, 0.5, 0.001, 0.5, 0.001], 'p95{v="v2"}': [0.3]})
    subject = analysis(querier, count=5, failure_limit=2)
    assert run(subject, 5)[-1] == "passed"
    assert subject.summary().metrics[0].failures == 2


def test_no_data_and_nan_are_inconclusive_and_pause_after_the_limit() -> None:
    querier = FakeQuerier({'err{v="v2"}': [[], math.nan], 'p95{v="v2"}': [0.3]})
    subject = analysis(querier, count=5)
    assert run(subject, 5) == ["running", "inconclusive"]
    first, second = subject.samples
    assert first.measurement("error-rate").outcome == "inconclusive"
    assert first.measurement("error-rate").reason == "no data: the query returned no series"
    assert first.measurement("error-rate").value is None
    assert "NaN" in second.measurement("error-rate").reason
    assert math.isnan(second.measurement("error-rate").value or 0.0)
    assert subject.summary().reason.startswith("2 inconclusive samples > limit 1")


def test_fail_outranks_inconclusive_in_a_sample() -> None:
    querier = FakeQuerier({'err{v="v2"}': [[]], 'p95{v="v2"}': [5.0]})
    subject = analysis(querier, count=5, failure_limit=0)
    subject.sample(T0)
    assert subject.samples[0].outcome == "fail" and subject.verdict() == "failed"
    assert subject.inconclusive == 0


def test_for_seconds_needs_consecutive_breaches_spanning_the_window() -> None:
    rules = [
        {
            "name": "error-rate",
            "query": "err",
            "fail_when": ">",
            "threshold": 0.05,
            "for_seconds": 120,
        }
    ]
    # breach, breach, pass (resets), breach, breach, breach -> the 3rd of a streak fails
    querier = FakeQuerier({"err": [0.1, 0.1, 0.0, 0.1, 0.1, 0.1, 0.1]})
    subject = Analysis(
        settings(queries=rules, count=20, failure_limit=1), querier=querier, context=CANARY
    )
    outcomes = []
    for i in range(7):
        sample = subject.sample(T0 + timedelta(seconds=60 * i))
        measurement = sample.measurement("error-rate")
        outcomes.append("pending" if measurement.pending else measurement.outcome)
    assert outcomes == ["pending", "pending", "pass", "pending", "pending", "fail", "fail"]
    assert subject.verdict() == "failed"
    assert "breaching for 60s of 120s" in subject.samples[4].measurement("error-rate").reason
    assert "breaching for 120s" in subject.samples[5].measurement("error-rate").reason


def test_inconclusive_sample_ends_a_breach_streak() -> None:
    rules = [
        {
            "name": "error-rate",
            "query": "err",
            "fail_when": ">",
            "threshold": 0.05,
            "for_seconds": 60,
        }
    ]
    querier = FakeQuerier({"err": [0.1, math.nan, 0.1, 0.1]})
    subject = Analysis(
        settings(queries=rules, count=20, inconclusive_limit=5), querier=querier, context=CANARY
    )
    outcomes = [
        subject.sample(T0 + timedelta(seconds=60 * i)).measurement("error-rate") for i in range(4)
    ]
    assert [(m.outcome, m.pending) for m in outcomes] == [
        ("pass", True),
        ("inconclusive", False),
        ("pass", True),
        ("fail", False),
    ]


def test_a_pending_breach_keeps_the_analysis_running_past_count() -> None:
    rules = [
        {
            "name": "error-rate",
            "query": "err",
            "fail_when": ">",
            "threshold": 0.05,
            "for_seconds": 120,
        }
    ]
    cleared = Analysis(
        settings(queries=rules, count=2),
        querier=FakeQuerier({"err": [0.0, 0.1, 0.0]}),
        context=CANARY,
    )
    assert run(cleared, 10) == ["running", "running", "passed"]
    assert cleared.samples[1].measurement("error-rate").pending
    held = Analysis(
        settings(queries=rules, count=2, failure_limit=0),
        querier=FakeQuerier({"err": [0.0, 0.1, 0.1, 0.1]}),
        context=CANARY,
    )
    assert run(held, 10) == ["running", "running", "running", "failed"]


def test_min_requests_below_minimum_is_inconclusive_not_pass() -> None:
    querier = FakeQuerier(
        {
            "reqs": [3.0, [], math.nan, PrometheusUnavailableError("Prometheus down"), 500.0],
            'err{v="v2"}': [1.0, 0.0],
            'p95{v="v2"}': [0.3],
        }
    )
    subject = analysis(
        querier, min_requests={"query": "reqs", "minimum": 100}, count=5, inconclusive_limit=10
    )
    for i in range(5):
        subject.sample(T0 + timedelta(seconds=60 * i))
    low, empty, nan, down, enough = subject.samples
    assert low.requests == 3.0 and low.outcome == "inconclusive"
    measurement = low.measurement("error-rate")
    assert measurement.value == 1.0 and measurement.outcome == "inconclusive"
    assert "too little traffic: 3 requests < minimum 100" in measurement.reason
    assert low.measurement("p95").outcome == "inconclusive"
    assert empty.requests is None and "no requests counted" in (empty.requests_reason or "")
    assert nan.outcome == "inconclusive"
    assert down.outcome == "inconclusive" and "request count unknown" in (
        down.requests_reason or ""
    )
    # Prometheus was down: the other queries of that sample were not even sent.
    assert down.measurement("error-rate").reason.startswith("not queried")
    assert enough.outcome == "pass" and enough.requests == 500.0
    assert subject.verdict() == "passed"
    summary = subject.summary()
    assert summary.requests == 500.0 and summary.min_requests == 100


def test_prometheus_unreachable_is_inconclusive_with_one_timeout_per_sample() -> None:
    client = PrometheusClient(closed_port_url(), timeout=0.5)
    subject = Analysis(settings(count=5), querier=client, context=CANARY)
    sample = subject.sample(T0)
    first, second = sample.measurements
    assert first.outcome == second.outcome == "inconclusive"
    assert "unreachable" in first.reason and second.reason.startswith("not queried: Prometheus at")
    assert subject.verdict() == "running"
    subject.sample(T0 + timedelta(minutes=1))
    assert subject.verdict() == "inconclusive"


def test_broken_promql_is_a_config_error_naming_the_query(prom: PrometheusStandIn) -> None:
    def respond(query: str) -> Reply:
        if query.startswith("p95"):
            return Reply(
                400,
                {"status": "error", "errorType": "bad_data", "error": "1:4: parse error: bad"},
            )
        return Reply(body=vector(({}, "0")))

    prom.respond = respond
    subject = Analysis(settings(), querier=PrometheusClient(prom.url), context=CANARY)
    with pytest.raises(AnalysisConfigError) as caught:
        subject.sample(T0)
    assert "'p95' is broken: 1:4: parse error: bad" in caught.value.message
    assert caught.value.hint is not None and 'p95{v="v2"}' in caught.value.hint
    assert subject.samples == () and subject.verdict() == "running"


def test_broken_request_count_query_is_a_config_error() -> None:
    bad = PrometheusQueryError("rejected", query="reqs{", error="1:6: parse error")
    subject = analysis(
        FakeQuerier({"reqs{": [bad]}), min_requests={"query": "reqs{", "minimum": 10}
    )
    with pytest.raises(AnalysisConfigError, match="'min_requests' is broken: 1:6: parse error"):
        subject.sample(T0)


def test_missing_placeholder_value_fails_before_any_query() -> None:
    querier = FakeQuerier({})
    with pytest.raises(AnalysisConfigError, match=r"\{canary\}"):
        Analysis(settings(), querier=querier, context=QueryContext(service="checkout"))
    assert querier.calls == []


def test_analysis_through_the_client_sends_token_and_time(prom: PrometheusStandIn) -> None:
    prom.respond = lambda q: Reply(body=vector(({}, "0.001")))
    subject = Analysis.from_settings(
        settings(prometheus_url=prom.url, bearer_token_env="PROM_TOKEN", count=1),
        context=CANARY,
        environ={"PROM_TOKEN": TOKEN},
    )
    subject.sample(T0)
    assert subject.verdict() == "passed"
    assert {s.headers["Authorization"] for s in prom.seen} == {f"Bearer {TOKEN}"}
    assert [s.params["query"] for s in prom.seen] == ['err{v="v2"}', 'p95{v="v2"}']
    assert {s.params["time"] for s in prom.seen} == {f"{T0.timestamp():.3f}"}


def test_summary_for_slack() -> None:
    querier = FakeQuerier({'err{v="v2"}': [0.002, 0.03], 'p95{v="v2"}': [0.4, 0.5]})
    subject = analysis(querier, count=5)
    assert subject.summary().metrics[0].outcome is None
    run(subject, 2)
    summary = subject.summary()
    assert (summary.verdict, summary.samples, summary.count) == ("running", 2, 5)
    assert (summary.failures, summary.failure_limit, summary.inconclusive) == (1, 2, 0)
    error_rate, p95 = summary.metrics
    assert (error_rate.value, error_rate.condition, error_rate.outcome) == (0.03, "> 0.01", "fail")
    assert (error_rate.failures, p95.failures, p95.value, p95.outcome) == (1, 0, 0.5, "pass")
    lines = summary.lines()
    assert lines[0].startswith("Analysis running: 2 of 5 samples taken")
    assert "• error-rate: 0.03 (fails when > 0.01) fail; 1 failed, 0 inconclusive" in lines


def test_run_analysis_samples_every_interval_on_the_clock() -> None:
    clock = ManualClock(T0)
    querier = FakeQuerier({'err{v="v2"}': [0.0], 'p95{v="v2"}': [0.1]})
    seen: list[Sample] = []
    verdict = run_analysis(analysis(querier, count=3), clock=clock, on_sample=seen.append)
    assert verdict == "passed"
    assert [s.at for s in seen] == [T0 + timedelta(seconds=60 * i) for i in range(3)]
    aborted = run_analysis(analysis(querier), clock=clock, should_abort=lambda: True)
    assert aborted == "running"
