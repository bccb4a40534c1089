"""The `requires_ci` gate: a deploy needs a green CI run for its version's commit.

The version is a release tag of the service's repository (`/hotfix finish` tags it); its
commit is read from the remote. The runs kept for that commit (services/ci/runs.py) and the
service's `ci.required` decide (`standing`): none at all, a failed one, a manual job left
pending or a required workflow skipped refuses the request; one still running lets it
through, and the engine's "ci" step waits for it to turn green (`wait_for_green`).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Standing:
    """Where a commit's CI stands for the gate: green, stopped for good, or still awaited."""

    green: bool = False
    stop: str | None = None  # why no waiting will make it green
    advice: str = ""  # what to do about `stop`
    waiting: str | None = None  # what is still awaited


def standing(found: list[runs.StoredRun], *, required: list[str], what: str) -> Standing:
    """Green only when every workflow that reported for the commit finished green (skipped
    ones fail nothing unless required, but all skipped is no green) and each `required`
    workflow reported success; a failed run, a manual job left pending or a required
    workflow skipped stops at once: waiting would not change it."""
    verdict = runs.verdict(found)
    if verdict is Outcome.FAILURE:
        return Standing(
            stop=f"CI failed for {what}: {_runs_line(_with(found, Outcome.FAILURE))}",
            advice="fix it and release a new version, or re-run CI if the failure was spurious",
        )
    if verdict is Outcome.BLOCKED:
        return Standing(
            stop=f"CI for {what} is blocked: a manual job is pending in"
            f" {_runs_line(_with(found, Outcome.BLOCKED))}",
            advice="run the manual job (or make it optional, allow_failure: true), then ask"
            " again once CI is green",
        )
    by_name: dict[str, runs.StoredRun] = {}
    for run in found:  # newest first
        by_name.setdefault(run.name, run)
    skipped = [
        by_name[n] for n in required if n in by_name and by_name[n].outcome is Outcome.SKIPPED
    ]
    if skipped:
        return Standing(
            stop=f"a required CI workflow was skipped for {what}: {_runs_line(skipped)}",
            advice="run it on this commit (a skipped workflow tested nothing), or change the"
            " service's ci.required",
        )
    missing = [n for n in required if n not in by_name]
    if verdict is Outcome.SKIPPED and not missing:
        return Standing(
            stop=f"CI tested nothing for {what}: every run was skipped ({_runs_line(found)})",
            advice="run CI on this commit, or name the workflows that count in the service's"
            " ci.required",
        )
    if verdict in (Outcome.RUNNING, Outcome.QUEUED):
        return Standing(waiting=f"CI still {verdict.value}")
    if missing:
        names = ", ".join(repr(n[:60]) for n in missing[:5])
        return Standing(waiting=f"required workflow(s) {names} not reported yet")
    if verdict is None:
        return Standing(waiting="no run reported")
    return Standing(green=True)


def _with(found: list[runs.StoredRun], outcome: Outcome) -> list[runs.StoredRun]:
    return [r for r in found if r.outcome is outcome]


def _required(deps: DeployDeps, service: str) -> list[str]:
    settings = deps.settings.services.get(service)
    return list(settings.ci.required) if settings is not None and settings.ci else []


def refusals(
    deps: DeployDeps, env: EnvironmentSettings, *, service: str, version: str
) -> list[Refusal]:
    """At request time: why this version may not be deployed yet ([] when CI allows it).

    A run still in progress, or a required workflow not reported yet while others did, is
    no refusal: the approved deploy waits for it (`wait_for_green`).
    """
    from services.deploy.gates import Refusal

    try:
        sha = commit_of(deps, service=service, version=version)
    except UserFacingError as exc:
        return [Refusal(GATE, f"{exc.message} {exc.hint or ''}".strip())]
    found = runs.for_commit(deps.store, service=service, sha=sha)
    if not found:
        return [
            Refusal(
                GATE,
                f"no CI run has reported for {version} (commit {sha[:10]}): run CI on it, and"
                ' check the repository\'s webhook points at the bot (README "CI status")',
            )
        ]
    what = f"{version} (commit {sha[:10]})"
    now = standing(found, required=_required(deps, service), what=what)
    if now.stop is not None:
        return [Refusal(GATE, f"{now.stop}; {now.advice}")]
    return []


def wait_for_green(
    deps: DeployDeps, env: EnvironmentSettings, deployment: Deployment, *, should_abort: ShouldAbort
) -> str:
    """In the engine, before validating: wait until CI is green; the step's line for the card.

    Raises DeployError(changed=False) when CI fails, stops (a manual job, a required workflow
    skipped) or is not green in time.
    """
    try:
        sha = commit_of(deps, service=deployment.service, version=deployment.version)
    except UserFacingError as exc:
        raise DeployError(exc.message, hint=exc.hint, changed=False) from exc
    deadline = deps.clock.now() + timedelta(minutes=env.ci_wait_minutes)
    what = f"{deployment.version} (commit {sha[:10]})"
    required = _required(deps, deployment.service)
    while True:
        found = runs.for_commit(deps.store, service=deployment.service, sha=sha)
        now = standing(found, required=required, what=what)
        if now.green:
            return f"CI green for {what}: {_runs_line(found)}"
        if now.stop is not None:
            raise DeployError(
                now.stop,
                hint=f"Nothing was deployed: {now.advice}, and request the deploy again.",
                changed=False,
            )
        if should_abort():
            raise DeployError(
                f"Aborted while waiting for CI on {what}.",
                hint="Nothing was deployed.",
                changed=False,
            )
        if deps.clock.now() >= deadline:
            raise DeployError(
                f"CI did not turn green for {what} within {env.ci_wait_minutes:g} minutes"
                f" ({now.waiting}).",
                hint="Nothing was deployed. Request the deploy again once CI is green, or raise"
                " ci_wait_minutes for this environment.",
                changed=False,
            )
        deps.clock.sleep(POLL_SECONDS)
