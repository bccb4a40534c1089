"""The `requires:` gate: staging before production.

Version X may go to an environment with `requires: [staging]` only once X, on staging,
(a) passed `/hotfix validate` and (b) was deployed there and verified: a succeeded
deployment of X with verification on, or (after one with --no-verify) a passed
`/hotfix verify` of X; and staging still runs X by the bot's records (no later finished
deployment or rollback moved it away) and its newest on-demand verify of X since did not
fail. Each missing piece is its own refusal, with the command that supplies it, so the
person knows exactly what to run next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.deploy import history
from services.deploy.model import Deployment, Kind, State
from services.deploy.settings import EnvironmentSettings
from services.pipeline import records
from services.pipeline.records import RunKind, RunState

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
        moved = moved_away(deps, deployed) if deployed is not None else None
        failed = failed_verify(deps, deployed) if deployed is not None and moved is None else None
        if deployed is None:
            found.append(
                Refusal(
                    "requires",
                    f"{version} has not been deployed to {required}",
                    f"/hotfix deploy --target={required} {where}",
                )
            )
        elif moved is not None:
            found.append(
                Refusal(
                    "requires",
                    f"{version} no longer runs on {required}: {moved.id} changed it since"
                    f" {deployed.id}",
                    f"/hotfix deploy --target={required} {where}",
                )
            )
        elif failed is not None:
            found.append(
                Refusal(
                    "requires",
                    f"{version} failed its latest verify on {required} ({failed})",
                    f"/hotfix verify --target={required} --service={service}",
                )
            )
        elif not deployed.verify and not verified_since(deps, deployed):
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
    """The newest deployment of `version` that succeeded there."""
    row = deps.store.query_one(
        "SELECT * FROM deployments WHERE service = ? AND environment = ? AND version = ?"
        " AND kind = ? AND state = ? ORDER BY number DESC LIMIT 1",
        (service, environment, version, Kind.DEPLOY.value, State.SUCCEEDED.value),
    )
    return Deployment.from_row(row) if row else None


def moved_away(deps: DeployDeps, deployed: Deployment) -> Deployment | None:
    """The later deployment after which the records no longer say the target runs
    `deployed`'s version: a finished deploy of another version, a rollback (a new
    kind=rollback record: the original stays succeeded), or one that failed after touching
    the target. None: it still runs there."""
    later = deps.store.query(
        "SELECT * FROM deployments WHERE service = ? AND environment = ? AND number > ?"
        " AND state IN (?, ?, ?) ORDER BY number",
        (
            deployed.service,
            deployed.environment,
            deployed.number,
            State.SUCCEEDED.value,
            State.ROLLED_BACK.value,
            State.FAILED.value,
        ),
    )
    for found in map(Deployment.from_row, later):
        if found.state is State.FAILED and found.detail.get("changed") is False:
            continue  # failed before touching the target
        if history.landed(found) != deployed.version:
            return found
    return None


def _newest_verify(deps: DeployDeps, deployed: Deployment) -> records.PipelineRun | None:
    """The newest finished on-demand verify of the deployed version there since the deploy."""
    return records.newest(
        deps.store,
        kind=RunKind.VERIFY,
        service=deployed.service,
        environment=deployed.environment,
        version=deployed.version,
        states=(RunState.PASSED, RunState.FAILED),
        since=deployed.finished_at or deployed.requested_at,
    )


def failed_verify(deps: DeployDeps, deployed: Deployment) -> str | None:
    """The id of the newest verify since the deploy when it failed: what staging says now
    outweighs the deploy's own verification."""
    newest = _newest_verify(deps, deployed)
    return newest.id if newest and newest.state is RunState.FAILED else None


def verified_since(deps: DeployDeps, deployed: Deployment) -> bool:
    """An on-demand verify of that version passed after the deploy (one with --no-verify)."""
    newest = _newest_verify(deps, deployed)
    return newest is not None and newest.state is RunState.PASSED
