"""A real Prometheus server (the Debian package's /usr/bin/prometheus) for tests.

``running_prometheus(targets, tmp_dir)`` writes a config scraping the given
host:port targets every second (job ``app``), starts Prometheus with its
storage in ``tmp_dir`` on a free 127.0.0.1 port, waits until ``/-/ready``
answers and the first scrape of every target landed (``up == 1`` through the
query API), yields a :class:`PrometheusServer`, and stops it afterwards.

``prometheus_binary()`` finds the binary; when it is missing the test is
skipped locally but FAILS when the environment variable ``CI`` is set: CI
installs the package, so a missing binary there is a broken environment,
not a reason to silently run fewer tests.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.metrics_app import MetricsApp

DEFAULT_BINARY = "/usr/bin/prometheus"


def prometheus_binary() -> str:
    """The Prometheus binary, or skip (locally) / fail (when $CI is set)."""
    found = os.environ.get("PROMETHEUS_BIN") or (
        DEFAULT_BINARY if Path(DEFAULT_BINARY).exists() else shutil.which("prometheus")
    )
    if found and Path(found).exists():
        return found
    message = (
        f"Prometheus is not installed ({found or DEFAULT_BINARY} missing): the canary analysis tests "
        "need a real server. Install it with `apt-get install prometheus` (Debian/Ubuntu)."
    )
    if os.environ.get("CI"):
        pytest.fail(message + " CI must provide it.", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def api(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's ``result`` list (a vector), raising on any error."""
        data = urllib.parse.urlencode({"query": promql}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/query", data=data, timeout=5) as resp:
            payload = json.load(resp)
        assert payload["status"] == "success", payload
        result = payload["data"]["result"]
        return result if isinstance(result, list) else [{"value": result}]

    def values(self, promql: str) -> list[float]:
        return [float(item["value"][1]) for item in self.api(promql)]

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[float]], bool] = bool,
        *,
        timeout: float = 15.0,
        every: float = 0.2,
    ) -> list[float]:
        """Poll ``promql`` until ``predicate(values)`` holds; fail with the last values if not."""
        deadline = time.monotonic() + timeout
        while True:
            values = self.values(promql)
            if predicate(values):
                return values
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout}s for {promql!r}: last values {values}")
            time.sleep(every)

    def wait_for_value(self, promql: str, *, timeout: float = 15.0) -> list[float]:
        """Until the query returns at least one series, none of them NaN."""
        return self.wait_for(
            promql,
            lambda values: bool(values) and not any(math.isnan(v) for v in values),
            timeout=timeout,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def running_prometheus(
    targets: Sequence[str], tmp_dir: Path, *, startup_timeout: float = 20.0
) -> Iterator[PrometheusServer]:
    binary = prometheus_binary()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    config = tmp_dir / "prometheus.yml"
    config.write_text(
        textwrap.dedent(
            f"""\
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: app
                static_configs:
                  - targets: {json.dumps(list(targets))}
            """
        )
    )
    log_path = tmp_dir / "prometheus.log"
    deadline = time.monotonic() + startup_timeout
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp_dir,
            )
        while process.poll() is None and not _ready(url):
            if time.monotonic() > deadline:
                _stop(process)
                raise AssertionError(
                    f"Prometheus not ready after {startup_timeout}s:\n{log_path.read_text()}"
                )
            time.sleep(0.05)
        if process.poll() is None:
            break
        if "address already in use" not in log_path.read_text():
            raise AssertionError(f"Prometheus exited at startup:\n{log_path.read_text()}")
    else:
        raise AssertionError(f"Prometheus found no free port:\n{log_path.read_text()}")

    server = PrometheusServer(url, process, log_path)
    try:
        server.wait_for(
            'up{job="app"}',
            lambda values: len(values) == len(targets) and all(v == 1 for v in values),
            timeout=max(deadline - time.monotonic(), 1.0),
            every=0.1,
        )
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def metrics_app() -> Iterator[MetricsApp]:
    """The instrumented app, shared by the module's tests (each uses its own services)."""
    prometheus_binary()  # skip (or fail on CI) before starting anything
    with MetricsApp(tick=0.1) as running:
        yield running


@pytest.fixture(scope="module")
def prometheus(
    metrics_app: MetricsApp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping ``metrics_app``, shared by the module's tests."""
    with running_prometheus([metrics_app.target], tmp_path_factory.mktemp("prometheus")) as server:
        yield server
