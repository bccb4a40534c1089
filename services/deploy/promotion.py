"""The `requires:` gate: staging before production.

Version X may go to an environment with `requires: [staging]` only once X, on staging,
(a) passed `/hotfix validate` and (b) was deployed there and verified: a succeeded
deployment of X with verification on, or (after one with --no-verify) a passed
`/hotfix verify` of X. Each missing piece is its own refusal, with the command that
supplies it, so the person knows exactly what to run next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.deploy import deployments
from services.deploy.model import Deployment, Kind, State
from services.deploy.settings import EnvironmentSettings
from services.pipeline import records
from services.pipeline.records import RunKind

if TYPE_CHECKING:
    from services.deploy.engine.deps import DeployDeps
    from services.deploy.gates import Refusal


def refusals(
    deps: DeployDeps, env: EnvironmentSettings, *, service: str, environment: str, version: str
) -> list[Refusal]:
    """Why `version` may not go to `environment` yet: each required environment it has not
    passed (validated, deployed and verified there). [] when it may."""
    from services.deploy.gates import Refusal

    found: list[Refusal] = []
    svc = deps.settings.services.get(service)
    for required in env.requires:
        where = f"--service={service} --version={version}"
        if (
            records.latest_passed(
                deps.store,
                kind=RunKind.VALIDATE,
                service=service,
                environment=required,
                version=version,
            )
            is None
        ):
            suites = (
                list(svc.environments[required].suites)
                if svc and required in svc.environments
                else []
            )
            suite = f" --test-suite={suites[0]}" if suites else ""
            found.append(
                Refusal(
                    "requires",
                    f"{version} has not passed validate on {required}",
                    f"/hotfix validate --environment={required} {where}{suite}",
                )
            )
        deployed = last_deployed(deps, service=service, environment=required, version=version)
        if deployed is None:
            found.append(
                Refusal(
                    "requires",
                    f"{version} has not been deployed to {required}",
                    f"/hotfix deploy --target={required} {where}",
                )
            )
        elif not verified(deps, deployed):
            found.append(
                Refusal(
                    "requires",
                    f"{version} was deployed to {required} with --no-verify ({deployed.id})"
                    " and has not been verified there since",
                    f"/hotfix verify --target={required} --service={service}",
                )
            )
    return found


def last_deployed(
    deps: DeployDeps, *, service: str, environment: str, version: str
) -> Deployment | None:
    """The newest deployment of `version` that succeeded there (and was not rolled back:
    a rolled-back deployment ends rolled back, not succeeded)."""
    row = deps.store.query_one(
        "SELECT id FROM deployments WHERE service = ? AND environment = ? AND version = ?"
        " AND kind = ? AND state = ? ORDER BY number DESC LIMIT 1",
        (service, environment, version, Kind.DEPLOY.value, State.SUCCEEDED.value),
    )
    return deployments.get(deps.store, row["id"]) if row else None


def verified(deps: DeployDeps, deployed: Deployment) -> bool:
    """Verified by the deployment itself, or by an on-demand verify of that version after it."""
    if deployed.verify:
        return True
    run = records.latest_passed(
        deps.store,
        kind=RunKind.VERIFY,
        service=deployed.service,
        environment=deployed.environment,
        version=deployed.version,
    )
    finished = deployed.finished_at or deployed.requested_at
    return run is not None and run.started_at >= finished
