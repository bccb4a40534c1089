"""The `requires_ci` gate: a deploy needs a green CI run for its version's commit.

The version is a release tag of the service's repository (`/hotfix finish` tags it); its
commit is read from the remote. The runs kept for that commit (services/ci/runs.py) decide:
none at all or a failed one refuses the request; one still running lets it through, and the
engine's "ci" step waits for it to turn green (`wait_for_green`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from services.ci import runs
from services.ci.model import Outcome
from services.deploy.settings import EnvironmentSettings
from services.errors import DeployError, UserFacingError
from services.git import HotfixError, tag_commit

if TYPE_CHECKING:
    from services.deploy.backend import ShouldAbort
    from services.deploy.engine.deps import DeployDeps
    from services.deploy.gates import Refusal
    from services.deploy.model import Deployment

GATE = "ci"
POLL_SECONDS = 15.0  # how often the engine looks again; webhooks fill the store meanwhile


def commit_of(deps: DeployDeps, *, service: str, version: str) -> str:
    """The commit the version's tag points at; UserFacingError when it cannot be known."""
    settings = deps.settings.services.get(service)
    repository = settings.git if settings else None
    if settings is not None and settings.ci is None:
        raise UserFacingError(
            f"{service} has requires_ci but names no CI project, so no run can ever be found.",
            hint=f"Add services.{service}.ci (github_repository or gitlab_project).",
        )
    if repository is None:
        raise UserFacingError(
            f"{service} has requires_ci but no git repository: its versions' commits are unknown.",
            hint=f"Add services.{service}.git.repository to the configuration.",
        )
    try:
        sha = tag_commit(repository, version)
    except HotfixError as exc:
        raise UserFacingError(
            f"Could not read the commit of {version} from {service}'s repository: {exc.message}",
            hint="Check the repository is reachable, then ask again.",
        ) from exc
    if sha is None:
        raise UserFacingError(
            f"{service}'s repository has no tag {version}, so its CI cannot be checked.",
            hint="Deploy a released version (`/hotfix finish` tags one).",
        )
    return sha


def _runs_line(found: list[runs.StoredRun]) -> str:
    return ", ".join(
        f"{r.name[:60]} {r.outcome.value}" + (f" ({r.url})" if r.url else "") for r in found[:5]
    )


def refusals(
    deps: DeployDeps, env: EnvironmentSettings, *, service: str, version: str
) -> list[Refusal]:
    """At request time: why this version may not be deployed yet ([] when CI allows it).

    A run still in progress is no refusal: the approved deploy waits for it (`wait_for_green`).
    """
    from services.deploy.gates import Refusal

    try:
        sha = commit_of(deps, service=service, version=version)
    except UserFacingError as exc:
        return [Refusal(GATE, f"{exc.message} {exc.hint or ''}".strip())]
    found = runs.for_commit(deps.store, service=service, sha=sha)
    verdict = runs.verdict(found)
    if verdict is None:
        return [
            Refusal(
                GATE,
                f"no CI run has reported for {version} (commit {sha[:10]}): run CI on it, and"
                ' check the repository\'s webhook points at the bot (README "CI status")',
            )
        ]
    if verdict is Outcome.FAILURE:
        failed = [r for r in found if r.outcome is Outcome.FAILURE]
        return [
            Refusal(
                GATE,
                f"CI failed for {version} (commit {sha[:10]}): {_runs_line(failed)}; fix it"
                " and release a new version, or re-run CI if the failure was spurious",
            )
        ]
    return []


def wait_for_green(
    deps: DeployDeps, env: EnvironmentSettings, deployment: Deployment, *, should_abort: ShouldAbort
) -> str:
    """In the engine, before validating: wait for a green run; the step's line for the card.

    Raises DeployError(changed=False) when the run fails or none turns green in time.
    """
    try:
        sha = commit_of(deps, service=deployment.service, version=deployment.version)
    except UserFacingError as exc:
        raise DeployError(exc.message, hint=exc.hint, changed=False) from exc
    deadline = deps.clock.now() + timedelta(minutes=env.ci_wait_minutes)
    what = f"{deployment.version} (commit {sha[:10]})"
    while True:
        found = runs.for_commit(deps.store, service=deployment.service, sha=sha)
        verdict = runs.verdict(found)
        if verdict is Outcome.SUCCESS:
            return f"CI green for {what}: {_runs_line(found)}"
        if verdict is Outcome.FAILURE:
            failed = [r for r in found if r.outcome is Outcome.FAILURE]
            raise DeployError(
                f"CI failed for {what}: {_runs_line(failed)}",
                hint="Nothing was deployed. Fix it and release a new version, or re-run CI"
                " and request the deploy again.",
                changed=False,
            )
        if should_abort():
            raise DeployError(
                f"Aborted while waiting for CI on {what}.",
                hint="Nothing was deployed.",
                changed=False,
            )
        if deps.clock.now() >= deadline:
            state = "no run reported" if verdict is None else f"CI still {verdict.value}"
            raise DeployError(
                f"CI did not turn green for {what} within {env.ci_wait_minutes:g} minutes"
                f" ({state}).",
                hint="Nothing was deployed. Request the deploy again once CI is green, or raise"
                " ci_wait_minutes for this environment.",
                changed=False,
            )
        deps.clock.sleep(POLL_SECONDS)
