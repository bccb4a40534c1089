"""Post-deployment monitoring: metric rules on a real Prometheus decide, and roll back."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.clock import SystemClock
from services.deploy import deployments
from services.deploy.model import State
from tests.harness.deploy_target import DeployTarget
from tests.harness.metrics_app import MetricsApp
from tests.harness.prometheus_server import PrometheusServer
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ERROR_RATE = (
    '(sum(rate(http_requests_total{service="{service}",version="{version}",status=~"5.."}[5s]))'
    " or vector(0))"
    ' / sum(rate(http_requests_total{service="{service}",version="{version}"}[5s]))'
)


def metrics_bot(
    slack: SlackEmulator,
    tmp_path: Path,
    target: DeployTarget,
    prometheus: PrometheusServer,
    service: str,
) -> RunningBot:
    analysis = {
        "prometheus_url": prometheus.url,
        "queries": [
            {
                "name": "HighErrorRateAfterDeploy",
                "query": ERROR_RATE,
                "fail_when": ">",
                "threshold": 0.05,
            }
        ],
        "interval_seconds": 1,
        "failure_limit": 0,
    }
    environment = target.environment(
        approvals=0, health_checks=[], verify_seconds=3, analysis=analysis
    )
    settings = {
        "services": {service: {"environments": {"production": environment}}},
        "access": {"deployers": ["U0ALICE"]},
    }
    # Prometheus answers for real time, so this bot runs on the system clock.
    return start_bot(
        slack=slack, store_path=tmp_path / "bot.db", clock=SystemClock(), extra_settings=settings
    )


@pytest.mark.parametrize(
    ("error_ratio", "final"),
    [(0.0, State.SUCCEEDED), (0.5, State.ROLLED_BACK)],
    ids=["healthy", "error-spike"],
)
def test_metric_rules_decide_after_a_deploy(
    slack: SlackEmulator,
    tmp_path: Path,
    metrics_app: MetricsApp,
    prometheus: PrometheusServer,
    error_ratio: float,
    final: State,
) -> None:
    service = f"checkout{int(error_ratio * 100)}"
    metrics_app.set_traffic(
        service, "v2.1.0", error_ratio=0.0
    )  # what runs before, and after a rollback
    metrics_app.set_traffic(service, "v2.1.1", error_ratio=error_ratio)
    for version in ("v2.1.0", "v2.1.1"):
        prometheus.wait_for_value(
            ERROR_RATE.replace("{service}", service).replace("{version}", version)
        )
    target = DeployTarget(tmp_path / "target")
    bot = metrics_bot(slack, tmp_path, target, prometheus, service)
    try:
        result = bot.driver.slash(
            f"deploy --target=production --service={service} --version=v2.1.1"
        )
        bot.slack.wait_for_response(result.response_id, timeout=20)
        bot.settle(timeout=60)
        deployment = deployments.get(bot.deps.store, "DEP-1")
        assert deployment.state is final
        if final is State.ROLLED_BACK:
            assert target.calls() == [["deploy", "v2.1.1"], ["rollback"]]
            assert "HighErrorRateAfterDeploy" in deployment.detail["analysis"]
        else:
            assert target.calls() == [["deploy", "v2.1.1"]]
            assert "passed" in deployment.detail["analysis"]
    finally:
        bot.stop()
        target.stop()
