"""A request's version, resolved in one place: the version the card, the approvers, the
timeline and the engine see.

A deploy names a version; a rollback names one or says "previous". `check_text` refuses
what cannot be a version before anything is read; `resolve` then makes one pass: a version
a person typed is checked against the service's repository tags, what the target runs now
is read, and a rollback's "previous" is resolved where the bot must know it (a target that
keeps no history of its own). The engine asks `rollback_aim` what a rollback goes back to.

Services with a git repository configured release by tagging it (`/hotfix finish`), so a
typed version that is not a tag there is a typo or a release that never happened: it is
refused with the latest tags before anyone is asked to approve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services import timeline
from services.deploy import history, registry
from services.deploy.backend import DeployContext
from services.deploy.model import VERSION, Deployment, Kind, State
from services.deploy.settings import EnvironmentSettings
from services.errors import UserFacingError
from services.git import HotfixError, remote_tags

if TYPE_CHECKING:
    from services.deploy.approvals import DeployRequest
    from services.deploy.engine import DeployDeps

# A rollback's version when it goes back one release: to what ran before.
PREVIOUS = "previous"
LATEST_SHOWN = 5


@dataclass(frozen=True)
class Resolved:
    version: str  # a version, or PREVIOUS where the backend resolves it from its own history
    running: dict[str, Any]  # what the target runs now: the card's diff, the rollback's `before`
    note: str | None  # a typed version that could not be checked against the repository


def check_text(version: str) -> None:
    """A version ends up in an image reference and in argv: refuse anything else at once."""
    if version != PREVIOUS and not VERSION.fullmatch(version):
        raise UserFacingError(
            f"{version[:40]!r} is not a valid version.",
            hint="Versions are image tags: letters, digits, '.', '_' and '-', e.g. v2.1.1.",
        )


def resolve(
    deps: DeployDeps, req: DeployRequest, env: EnvironmentSettings, strategy: str
) -> Resolved:
    """The version a request goes to, with what the target runs now; raises when refused."""
    note = _tag_note(deps, req) if req.typed_version and req.version != PREVIOUS else None
    running = running_now(
        deps,
        kind=req.kind,
        service=req.service,
        environment=req.environment,
        env=env,
        strategy=strategy,
    )
    version = req.version
    backend_type = registry.backend_type(env.backend)
    if req.kind is Kind.ROLLBACK and version == PREVIOUS and not backend_type.keeps_history:
        # A deploy script keeps no history: the bot's records say what ran before the version
        # running now (Kubernetes keeps its own, `rollout undo` semantics, left to the backend).
        current = running.get("version")
        previous = history.previous_version(
            deps.store, req.service, req.environment, running=str(current) if current else None
        )
        if previous is not None:
            version = previous.version
        elif backend_type.previous_needs_a_version(env.target):
            now = f" before {current}" if current else ""
            raise UserFacingError(
                f"Cannot tell which version ran on {req.service}/{req.environment}{now}: no"
                " deployment recorded by hotfix-bot put the current version there.",
                hint="Name the version to go back to: /hotfix rollback"
                f" --target={req.environment} --service={req.service} --version=v… (nothing"
                " was requested).",
            )
        # else the script picks the previous version itself; status checks after
    return Resolved(version=version, running=running, note=note)


def rollback_aim(deployment: Deployment) -> str | None:
    """The version a rollback goes to; None: back to what ran before (this deployment undone,
    or the release before the current one)."""
    if deployment.kind is Kind.ROLLBACK and deployment.version != PREVIOUS:
        return deployment.version
    return None


def _tag_note(deps: DeployDeps, req: DeployRequest) -> str | None:
    """Refuse a version the repository has no tag for; a note when it could not be read."""
    service = deps.settings.services.get(req.service)
    repository = service.git if service else None
    if repository is None:
        return None
    try:
        found = remote_tags(repository)
    except HotfixError as exc:
        # An unreachable git server must not block an emergency deploy: say it, go on.
        return f"version {req.version} not checked against the repository: {exc.message}"
    if req.version in found:
        return None
    latest = ", ".join(found.newest[:LATEST_SHOWN]) or "none"
    raise UserFacingError(
        f"{req.service} has no version {req.version}: its repository has no such tag."
        " Nothing was requested.",
        hint=f"The latest tags: {latest}.",
    )


def running_now(
    deps: DeployDeps,
    *,
    service: str,
    environment: str,
    env: EnvironmentSettings,
    strategy: str,
    kind: Kind = Kind.DEPLOY,
) -> dict[str, Any]:
    """What the target runs now (Backend.current()), read by a backend built for a request
    (or a verification) of it; raises a UserFacingError saying nothing was requested."""
    probe = Deployment(
        number=0,
        id="DEP-0",
        kind=kind,
        incident_id=None,
        service=service,
        environment=environment,
        version="current",
        strategy=strategy,
        backend=env.backend,
        state=State.REQUESTED,
        requested_by=timeline.BOT_ACTOR,
        requested_at=deps.clock.now(),
        channel_id=None,
        card_ts=None,
        approvals_required=0,
        expires_at=None,
        break_glass=False,
        verify=True,
        notify_stakeholders=False,
        before={},
        detail={},
        abort_requested=False,
        finished_at=None,
    )
    try:
        return deps.backend_for(probe, env, DeployContext()).current().as_data()
    except UserFacingError as exc:
        raise UserFacingError(
            f"Cannot read what {service}/{environment} runs now: {exc.message}",
            hint=exc.hint or "Check the target is reachable; nothing was requested.",
        ) from exc
