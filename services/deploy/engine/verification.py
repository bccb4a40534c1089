"""The verify step: health checks, then the metric analysis over the verification window.

Used after a deployment and after a rollback; what "the version that should be live"
means differs (`expected_version`), the checks do not.
"""

from __future__ import annotations

from services.deploy import deployments, registry
from services.deploy.analysis.run import Analysis, run_analysis
from services.deploy.analysis.settings import AnalysisSettings
from services.deploy.backend import AbortedError, Progress, ShouldAbort
from services.deploy.engine.deps import DeployDeps
from services.deploy.engine.steps import Done
from services.deploy.model import Deployment, Kind, State
from services.deploy.settings import EnvironmentSettings
from services.deploy.verify import verify as check_health
from services.deploy.versions import rollback_aim
from services.errors import DeployError


def verify(
    deps: DeployDeps,
    env: EnvironmentSettings,
    deployment: Deployment,
    *,
    progress: Progress,
    should_abort: ShouldAbort,
) -> Done:
    if not deployment.verify:
        return Done("skipped (--no-verify)")
    lines = [health(deps, env, progress=progress, should_abort=should_abort)]
    if env.analysis is not None:
        lines.append(metrics(deps, env, env.analysis, deployment.id, should_abort=should_abort))
    return Done("; ".join(lines))


def health(
    deps: DeployDeps, env: EnvironmentSettings, *, progress: Progress, should_abort: ShouldAbort
) -> str:
    checks = env.health_checks
    if not checks:
        return "no health checks configured"
    result = check_health(
        checks,
        seconds=env.verify_seconds,
        interval=env.verify_interval_seconds,
        clock=deps.clock,
        progress=progress,
        should_abort=should_abort,
    )
    if result.aborted:
        raise AbortedError("Rollback requested during verification.")
    if not result.ok:
        raise DeployError("Verification failed: " + "; ".join(result.failures))
    return f"{result.samples} healthy sample(s) over {env.verify_seconds:g} s"


def metrics(
    deps: DeployDeps,
    env: EnvironmentSettings,
    settings: AnalysisSettings,
    deployment_id: str,
    *,
    should_abort: ShouldAbort,
) -> str:
    """Post-deployment monitoring: the metric rules over the verification window."""
    d = deployments.get(deps.store, deployment_id)
    context = registry.query_context(env, service=d.service, version=expected_version(d))
    count = max(1, round(env.verify_seconds / settings.interval_seconds))
    analysis = Analysis.from_settings(settings, context=context, count=count)
    verdict = run_analysis(analysis, clock=deps.clock, should_abort=should_abort)
    summary = analysis.summary()
    deployments.merge_detail(deps.store, d.id, analysis="\n".join(summary.lines()))
    if should_abort():
        raise AbortedError("Rollback requested during verification.")
    if verdict == "failed":
        raise DeployError("Metric analysis failed: " + "; ".join(summary.lines()))
    if verdict == "inconclusive":
        return f"metrics inconclusive ({summary.reason}): not rolled back, look at the dashboards"
    return f"metrics passed ({summary.samples} samples)"


def expected_version(d: Deployment) -> str:
    """The version that should be live now: the new one, or after a rollback the old one."""
    if d.detail.get("rolled_back_to"):
        return str(d.detail["rolled_back_to"])
    if d.state is State.ROLLING_BACK or d.kind is Kind.ROLLBACK:
        return rollback_aim(d) or str(d.before.get("version") or d.version)
    return d.version
