"""Requesting, approving and rejecting deployments and rollbacks: the approval gate.

Only configured approvers' clicks count, the requester never approves their
own deployment, each decision is recorded once (double clicks and retries
change nothing), and the request that collects its last approval moves to
`approved` with a compare-and-set, so exactly one engine run starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services import timeline
from services.access import is_terminal_actor, members_of
from services.chat import Chat
from services.clock import Clock
from services.deploy import card, deployments, engine, gates, history, registry, versions, withdraw
from services.deploy.deployments import NewDeployment
from services.deploy.engine import DeployDeps, environment_of
from services.deploy.model import IN_FLIGHT, Deployment, Kind, State
from services.deploy.settings import EnvironmentSettings
from services.errors import ConflictError, PermissionDeniedError, UserFacingError
from services.incidents.model import Incident
from services.settings import Settings
from services.store import Store


@dataclass(frozen=True)
class DeployRequest:
    kind: Kind
    service: str
    environment: str
    version: str  # for a rollback: a version or "previous" (services.deploy.versions)
    strategy: str | None
    verify: bool
    notify_stakeholders: bool
    immediate: bool
    requested_by: str
    channel_id: str | None
    incident: Incident | None
    request_key: str | None
    # Run again after a crash: the card may never have been posted, or posted unrecorded.
    replayed: bool = False
    # What the bot inferred for flags left out, for the card and the timeline.
    inferred: tuple[str, ...] = ()
    # A rollback of code only: no down-migration runs (services.deploy.engine.database).
    preserve_data: bool = False
    # A version a person typed is checked against the repository's tags; one the bot read
    # from the target (a Rollback button's "what ran before") ran already.
    typed_version: bool = False


@dataclass(frozen=True)
class Decision:
    deployment: Deployment
    recorded: bool
    approved_now: bool  # this decision completed the approvals: start the engine


def target_settings(settings: Settings, service: str, environment: str) -> EnvironmentSettings:
    svc = settings.services.get(service)
    if svc is None or not svc.environments:
        known = sorted(name for name, s in settings.services.items() if s.environments)
        raise UserFacingError(
            f"There is no deployable service {service[:40]!r}.",  # typed: not echoed whole
            hint=("Configured: " + ", ".join(known) + ".")
            if known
            else "Add services.<name>.environments to the config.",
        )
    env = svc.environments.get(environment)
    if env is None:
        raise UserFacingError(
            f"{service} has no environment {environment[:40]!r}.",
            hint="Configured: " + ", ".join(sorted(svc.environments)) + ".",
        )
    return env


def _approvals_needed(env: EnvironmentSettings, request: DeployRequest) -> tuple[int, bool]:
    """(approvals required, break-glass?) for this request."""
    needed = env.required_approvals(request.environment)
    incident = request.incident
    if request.kind is Kind.ROLLBACK and request.immediate:
        if (
            incident is None
            or not incident.is_open
            or incident.severity.value not in env.immediate_rollback_severities
        ):
            allowed = (
                ", ".join(s.upper() for s in env.immediate_rollback_severities) or "no severity"
            )
            raise PermissionDeniedError(
                "--immediate is allowed here only during an open incident of severity "
                + allowed
                + ".",
                hint="Run the rollback without --immediate: it goes through the approval gate.",
            )
        return 0, False
    glass = env.break_glass
    in_severe_incident = (
        incident is not None
        and incident.is_open
        and glass is not None
        and incident.severity.value in glass.severities
    )
    if in_severe_incident and glass is not None and glass.approvals < needed:
        return glass.approvals, True
    return needed, False


def request(
    deps: DeployDeps,
    req: DeployRequest,
) -> tuple[Deployment, bool, str | None]:
    """Record a deployment request and post its card; (deployment, created, problem)."""
    replayed = deployments.by_request_key(deps.store, req.request_key)
    if replayed is not None:  # a Slack retry, or a run after a crash, of a recorded request
        return _card_repaired(deps, req, replayed), False, None
    env = target_settings(deps.settings, req.service, req.environment)
    versions.check_text(req.version)
    require_requester(
        deps.settings, deps.chat, actor=req.requested_by, environment=req.environment, env=env
    )
    strategy = _strategy(req, env)
    needed, break_glass = _approvals_needed(env, req)
    # The emergency path: an allowed --immediate rollback replaces a request still waiting
    # for approval instead of queueing behind it (the request is cancelled below).
    emergency = req.kind is Kind.ROLLBACK and req.immediate
    _refuse_if_busy(deps, req, pending_ok=emergency)
    if req.kind is Kind.ROLLBACK and not req.preserve_data:
        engine.refuse_rollback_of_target(deps.store, req.service, req.environment)
    resolved = versions.resolve(deps, req, env, strategy)
    skipped: list[gates.Refusal] = []
    if req.kind is Kind.DEPLOY or (
        resolved.running.get("version") != resolved.version
        and req.kind is Kind.ROLLBACK
        and resolved.version != versions.PREVIOUS
        and not history.ran_there(deps.store, req.service, req.environment, resolved.version)
    ):
        # Refused: nothing is recorded. Break-glass: what was skipped goes on the record.
        # A rollback to a typed version the records never saw run there (not what runs
        # now, no finished deployment of it, no rollback to it, not what ran before one)
        # is a deploy in all but name. "previous" ran there by definition.
        skipped = gates.enforce(
            deps,
            env,
            service=req.service,
            environment=req.environment,
            version=resolved.version,
            incident=req.incident,
        )
    deployment, created = deployments.create(
        deps.store,
        clock=deps.clock,
        new=NewDeployment(
            kind=req.kind,
            incident_id=req.incident.id if req.incident else None,
            service=req.service,
            environment=req.environment,
            version=resolved.version,
            strategy=strategy,
            backend=env.backend,
            requested_by=req.requested_by,
            channel_id=(
                req.incident.channel_id
                if req.incident and req.incident.channel_id
                else req.channel_id
            ),
            approvals_required=needed,
            expires_at=deps.clock.now() + timedelta(minutes=env.approval_expiry_minutes),
            break_glass=break_glass,
            verify=req.verify,
            notify_stakeholders=req.notify_stakeholders,
            before=resolved.running,
            request_key=req.request_key,
            detail=_request_detail(
                req, resolved.note, skipped, glass=gates.break_glass(env, req.incident)
            ),
        ),
    )
    if not created:
        return _card_repaired(deps, req, deployment), False, None
    gates.record_skipped(deps, deployment, skipped)
    if emergency:
        withdraw.supersede_pending(
            deps.store,
            clock=deps.clock,
            chat=deps.chat,
            target=deployment,
            actor=req.requested_by,
            by=f"rollback {deployment.id}",
        )
    problem = card.post_or_update(
        deps.store, deployment, clock=deps.clock, chat=deps.chat, channel=deployment.channel_id
    )
    return deployments.get(deps.store, deployment.id), True, problem


def require_requester(
    settings: Settings,
    chat: Chat,
    *,
    actor: str,
    environment: str,
    env: EnvironmentSettings,
    doing: str = "deploy to",
) -> None:
    """Who may ask for work on an environment (a deployment, a validation): its requesters,
    else access.deployers; a trusted console is let through."""
    allowed = env.requesters if env.requesters is not None else settings.access.deployers
    trusted = settings.access.console_is_trusted and is_terminal_actor(actor)
    if not trusted and actor not in members_of(list(allowed), chat=chat):
        raise PermissionDeniedError(
            f"Only configured requesters may {doing} {environment}.",
            hint="Ask someone listed under the environment's requesters (or access.deployers).",
        )


def _strategy(req: DeployRequest, env: EnvironmentSettings) -> str:
    """The environment's strategy, or the one asked for where its backend may switch."""
    strategy = req.strategy or env.strategy
    backend_type = registry.backend_type(env.backend)
    if strategy != env.strategy and strategy not in backend_type.switchable:
        raise UserFacingError(
            f"{req.service}/{req.environment} cannot deploy with strategy {strategy}.",
            hint=f"It deploys with {env.strategy}: leave --strategy out (nothing was requested).",
        )
    problems = backend_type.problems(env.target, strategy)
    if problems:
        needs = "; ".join(problems)
        raise UserFacingError(
            f"{req.service}/{req.environment} has no {strategy} setup.",
            hint=f"{needs[:1].upper()}{needs[1:]}: configure it, or use"
            f" --strategy={env.strategy} (nothing was requested).",
        )
    return strategy


def _request_detail(
    req: DeployRequest, checked: str | None, skipped: list[gates.Refusal], *, glass: bool
) -> dict[str, object]:
    detail: dict[str, object] = {}
    if glass:
        # Break-glass applies: the engine skips the CI wait too, even for a CI that was
        # merely pending now (services.deploy.engine.run).
        detail["break_glass_gates"] = True
    if skipped:
        detail["gates_skipped"] = [r.as_data() for r in skipped]
    if req.inferred:
        detail["inferred"] = list(req.inferred)
    if checked:
        detail["version_check"] = checked
    if req.preserve_data:
        detail["preserve_data"] = True
    return detail


def _refuse_if_busy(deps: DeployDeps, req: DeployRequest, *, pending_ok: bool) -> None:
    """One deployment at a time per target; the refusal says what would free it."""
    states = set(IN_FLIGHT) | {State.INTERRUPTED}
    if not pending_ok:
        states.add(State.REQUESTED)
    busy = deployments.latest_for_target(deps.store, req.service, req.environment, states=states)
    if busy is None:
        return
    holder = deployments.lock_holder(deps.store, busy.target)
    who = holder["held_by"] if holder else busy.requested_by
    target = f"{req.service}/{req.environment}"
    if busy.state is State.REQUESTED:
        hint = (
            f"Its requester can withdraw it (/hotfix cancel {busy.id}), or an approver reject it."
        )
        if req.kind is Kind.ROLLBACK:
            hint += " During a severe incident, rollback --immediate replaces it."
        raise ConflictError(
            f"{target} is busy: {busy.id} (held by {who}) is waiting for approval.", hint=hint
        )
    raise ConflictError(
        f"{target} is busy: {busy.id} (held by {who}) is {busy.state.label.lower()}.",
        hint=f"Wait for it to finish, or roll it back: /hotfix rollback --target={req.environment}"
        f" --service={req.service} stops it and rolls back.",
    )


def _card_repaired(deps: DeployDeps, req: DeployRequest, deployment: Deployment) -> Deployment:
    """Run again after a crash before the card was recorded: find it or post it, once."""
    if not req.replayed or deployment.card_ts is not None:
        return deployment
    card.post_or_update(
        deps.store,
        deployment,
        clock=deps.clock,
        chat=deps.chat,
        channel=deployment.channel_id,
        look_first=True,
    )
    return deployments.get(deps.store, deployment.id)


def _require_approver(
    deps: DeployDeps, deployment: Deployment, actor: str, *, approve: bool
) -> None:
    env = environment_of(deps.settings, deployment)
    if actor == deployment.requested_by and not approve:
        raise PermissionDeniedError(
            f"You requested {deployment.id}: withdraw it with `/hotfix cancel {deployment.id}`"
            " (rejecting is for approvers)."
        )
    if actor == deployment.requested_by:
        raise PermissionDeniedError(
            "You requested this deployment: someone else must approve it (two-person rule).",
            hint="Ask an approver in the war room.",
        )
    if deps.settings.access.console_is_trusted and is_terminal_actor(actor):
        return
    if actor not in members_of(list(env.approvers), chat=deps.chat):
        raise PermissionDeniedError(
            f"Only approvers for {deployment.environment} may decide on {deployment.id}.",
            hint="The environment's approvers are listed in the bot's configuration.",
        )


def _require_pending(deps: DeployDeps, deployment: Deployment) -> None:
    if deployment.state is not State.REQUESTED:
        raise ConflictError(
            f"{deployment.id} is {deployment.state.label.lower()}; there is nothing to decide."
        )
    if deployment.expires_at is not None and deployment.expires_at <= deps.clock.now():
        raise ConflictError(f"{deployment.id} expired; request it again.")


def decide(deps: DeployDeps, deployment: Deployment, *, actor: str, approve: bool) -> Decision:
    """Record an approval or rejection; the approval that completes the count approves."""
    _require_pending(deps, deployment)
    _require_approver(deps, deployment, actor, approve=approve)
    decision = "approve" if approve else "reject"
    with deps.store.transaction():
        recorded = deployments.add_decision(
            deps.store, clock=deps.clock, deployment=deployment, approver=actor, decision=decision
        )
        if recorded:
            timeline.append(
                deps.store,
                clock=deps.clock,
                incident_id=deployment.incident_id,
                actor=actor,
                kind="deploy_approval" if approve else "deploy_rejection",
                text=f"{deployment.id} {'approved' if approve else 'rejected'} by {actor}",
                data={"deployment_id": deployment.id, "decision": decision},
            )
    if not approve and recorded:
        moved = deployments.transition(
            deps.store,
            clock=deps.clock,
            deployment=deployment,
            to=State.REJECTED,
            actor=actor,
            text=f"rejected by {actor}",
        )
        return Decision(moved, True, False)
    return _approve_if_complete(deps, deployment, actor=actor, recorded=recorded)


def _approve_if_complete(
    deps: DeployDeps, deployment: Deployment, *, actor: str, recorded: bool
) -> Decision:
    approvals = [
        d for d in deployments.decisions(deps.store, deployment.id) if d["decision"] == "approve"
    ]
    if len(approvals) < deployment.approvals_required:
        return Decision(deployments.get(deps.store, deployment.id), recorded, False)
    try:
        moved = deployments.transition(
            deps.store,
            clock=deps.clock,
            deployment=deployment,
            to=State.APPROVED,
            actor=actor,
            text=f"approved ({len(approvals)} of {deployment.approvals_required})"
            + (" BREAK-GLASS" if deployment.break_glass else ""),
            data={
                "approvers": [a["approver"] for a in approvals],
                "break_glass": deployment.break_glass,
            },
            expect=State.REQUESTED,
        )
    except ConflictError:
        # Two approvers at the same instant: the other click approved it; this one is recorded.
        return Decision(deployments.get(deps.store, deployment.id), recorded, False)
    return Decision(moved, recorded, True)


def approve_without_gate(deps: DeployDeps, deployment: Deployment, *, actor: str) -> Decision:
    """No approval needed (break-glass with 0, or an allowed --immediate rollback)."""
    return _approve_if_complete(deps, deployment, actor=actor, recorded=False)


def expire_due(store: Store, *, clock: Clock, chat: Chat) -> list[str]:
    """Cancel requests nobody approved in time (called by the scheduler's tick)."""
    expired = []
    for deployment in deployments.in_states(store, {State.REQUESTED}):
        if deployment.expires_at is not None and deployment.expires_at <= clock.now():
            try:
                moved = deployments.transition(
                    store,
                    clock=clock,
                    deployment=deployment,
                    to=State.EXPIRED,
                    actor=timeline.BOT_ACTOR,
                    text="approval expired",
                )
            except ConflictError:
                continue
            card.post_or_update(store, moved, clock=clock, chat=chat, channel=moved.channel_id)
            expired.append(deployment.id)
    return expired
