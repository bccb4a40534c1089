"""A small instrumented "service" for the real Prometheus to scrape.

It serves ``/metrics`` (prometheus-client's text format) on 127.0.0.1, port 0,
from a thread, and exposes what a typical HTTP service exposes:

* ``http_requests_total{service, version, status}`` (counter)
* ``http_request_duration_seconds{service, version}`` (histogram)

No real traffic goes over the network: a background thread records, every
``tick`` seconds (0.1 by default), ``requests_per_tick`` requests for each
configured (service, version) with the configured error ratio and latency,
straight into the metrics. It is deterministic: errors are spread with an
accumulator (ratio 0.25 and 4 requests per tick gives exactly one 500 per
tick), every request of a version takes its configured latency.

As in most real services, a ``status="500"`` series only appears once a 5xx
was recorded, so a healthy version has no 5xx series at all.

A version can be *silent*: its series exist (at 0, as an instrumented but
idle pod exports them) but nothing is recorded. A version never configured has
no series at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

# Canary analysis queries on these series: {service} and {canary} filled in per test (the
# analysis fills them in the same way from the deployment).
ERROR_RATE = (
    '(sum(rate(http_requests_total{service="{service}",version="{canary}",status=~"5.."}[5s]))'
    " or vector(0))"
    ' / sum(rate(http_requests_total{service="{service}",version="{canary}"}[5s]))'
)
P95 = (
    "histogram_quantile(0.95, sum(rate("
    'http_request_duration_seconds_bucket{service="{service}",version="{canary}"}[5s])) by (le))'
)
REQUESTS = 'sum(increase(http_requests_total{service="{service}",version="{canary}"}[5s]))'

BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)


@dataclass
class Traffic:
    requests_per_tick: int = 20
    error_ratio: float = 0.0
    latency_seconds: float = 0.05
    silent: bool = False
    errors_due: float = 0.0  # the accumulator that spreads errors evenly


class MetricsApp:
    def __init__(self, *, tick: float = 0.1) -> None:
        self.tick = tick
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled.",
            ["service", "version", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency.",
            ["service", "version"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self._traffic: dict[tuple[str, str], Traffic] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._threads = [
            threading.Thread(
                target=self.server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="metrics-app",
                daemon=True,
            ),
            threading.Thread(target=self._generate, name="metrics-traffic", daemon=True),
        ]

    # -- what a test controls ---------------------------------------------------

    @property
    def target(self) -> str:
        """host:port for a Prometheus scrape config."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}/metrics"

    def set_traffic(
        self,
        service: str,
        version: str,
        *,
        requests_per_tick: int = 20,
        error_ratio: float = 0.0,
        latency_seconds: float = 0.05,
    ) -> None:
        """Start (or change) the generated traffic of one version."""
        if not 0.0 <= error_ratio <= 1.0:
            raise ValueError("error_ratio is a fraction of requests, 0..1")
        with self._lock:
            self._touch(service, version)
            self._traffic[(service, version)] = Traffic(
                requests_per_tick, error_ratio, latency_seconds
            )

    def silence(self, service: str, version: str) -> None:
        """Stop recording for this version; its series stay exported, flat."""
        with self._lock:
            self._touch(service, version)
            traffic = self._traffic.setdefault((service, version), Traffic())
            traffic.silent = True

    def _touch(self, service: str, version: str) -> None:
        # Export the series at 0 from now on, as an instrumented process does.
        self.requests.labels(service, version, "200")
        self.duration.labels(service, version)

    # -- the generator ----------------------------------------------------------

    def record_tick(self) -> None:
        """One tick of traffic for every configured version (also callable directly)."""
        with self._lock:
            for (service, version), traffic in self._traffic.items():
                if traffic.silent or traffic.requests_per_tick <= 0:
                    continue
                traffic.errors_due += traffic.error_ratio * traffic.requests_per_tick
                errors = min(int(traffic.errors_due + 1e-9), traffic.requests_per_tick)
                traffic.errors_due -= errors
                ok = traffic.requests_per_tick - errors
                if ok:
                    self.requests.labels(service, version, "200").inc(ok)
                if errors:
                    self.requests.labels(service, version, "500").inc(errors)
                histogram = self.duration.labels(service, version)
                for _ in range(traffic.requests_per_tick):
                    histogram.observe(traffic.latency_seconds)

    def _generate(self) -> None:
        while not self._stop.wait(self.tick):
            self.record_tick()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> MetricsApp:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> MetricsApp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
