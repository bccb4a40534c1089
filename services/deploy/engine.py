"""The deploy engine: a persisted state machine run on the bot's worker.

approved → validating → deploying → verifying → succeeded, or
failed → rolling_back → rolled_back. Each step is recorded before and after
it runs; a bot restarted mid-deployment finds it in flight, reconciles with
what the target runs, and reports it as interrupted with Resume / Rollback
instead of repeating a step blindly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from services import timeline
from services.chat import Chat, ChatError, Message
from services.clock import Clock
from services.deploy import card, deployments, registry, withdraw
from services.deploy.analysis.run import Analysis, AnalysisSettings, QueryContext, run_analysis
from services.deploy.backend import AbortedError, AlreadyThereError, Backend, DeployContext
from services.deploy.checks import run_checks
from services.deploy.context import StoreContext
from services.deploy.model import IN_FLIGHT, Deployment, Kind, State
from services.deploy.process import OUTPUT_KEPT, environment_for, fill, run
from services.deploy.settings import EnvironmentSettings
from services.deploy.verify import verify
from services.errors import ConflictError, DeployError, UserFacingError
from services.incidents import records as incidents
from services.incidents.model import Incident
from services.settings import Settings
from services.store import Store

log = logging.getLogger(__name__)
BOT = "hotfix-bot"

BackendFactory = Callable[[Deployment, EnvironmentSettings, DeployContext], Backend]


@dataclass(frozen=True)
class DeployDeps:
    settings: Settings
    store: Store
    clock: Clock
    chat: Chat
    backend_for: BackendFactory


def environment_of(settings: Settings, deployment: Deployment) -> EnvironmentSettings:
    service = settings.services.get(deployment.service)
    env = service.environments.get(deployment.environment) if service else None
    if env is None:
        raise UserFacingError(
            f"{deployment.target} is no longer in the configuration.",
            hint="Restore it in the config file, or roll back by hand.",
        )
    return env


class Run:
    """One pass of the engine over one deployment."""

    def __init__(self, deps: DeployDeps, deployment: Deployment) -> None:
        self.deps = deps
        self.deployment = deployment
        self.env = environment_of(deps.settings, deployment)
        # A step's whole output, for its timeline row (the card shows the last lines).
        self.outputs: dict[str, str] = {}
        # A backend reads the people's controls, reports its live state and tells the war
        # room through the deployment's row.
        backend_type = registry.backend_type(self.env.backend)
        context = StoreContext(
            store=deps.store,
            clock=deps.clock,
            chat=deps.chat,
            deployment=deployment,
            card_update_seconds=backend_type.card_update_seconds(self.env.target),
        )
        self.backend = deps.backend_for(deployment, self.env, context)

    # -- bookkeeping ---------------------------------------------------------

    def refresh(self) -> Deployment:
        self.deployment = deployments.get(self.deps.store, self.deployment.id)
        return self.deployment

    def move(self, to: State, text: str, **data: Any) -> None:
        self.deployment = deployments.transition(
            self.deps.store,
            clock=self.deps.clock,
            deployment=self.refresh(),
            to=to,
            actor=BOT,
            text=text,
            data=data,
        )
        self.update_card()

    def update_card(self) -> None:
        problem = card.post_or_update(
            self.deps.store,
            self.deployment,
            clock=self.deps.clock,
            chat=self.deps.chat,
            channel=self.deployment.channel_id,
        )
        if problem:
            log.warning("%s: %s", self.deployment.id, problem)

    def progress(self, step: str) -> Callable[[str], None]:
        def report(line: str) -> None:
            log.info("%s %s: %s", self.deployment.id, step, line)

        return report

    def should_abort(self) -> bool:
        # Once rolling back, a Rollback click has been answered: nothing aborts the rollback.
        deployment = self.refresh()
        return deployment.abort_requested and deployment.state is not State.ROLLING_BACK

    def step(self, name: str, action: Callable[[], str], *, announce: bool = True) -> None:
        """Record the step before and after; its exceptions propagate after being recorded.

        `announce=False` skips the card edit before the step: a rollback's first cluster
        write should not wait for a Slack round trip.
        """
        store, clock = self.deps.store, self.deps.clock
        deployments.step_started(store, clock=clock, deployment_id=self.deployment.id, step=name)
        finished = partial(
            deployments.step_finished, store, clock=clock, deployment=self.deployment, step=name
        )
        if announce:
            self.update_card()
        try:
            detail = action()
        except Exception as exc:
            message = (
                exc.message if isinstance(exc, UserFacingError) else f"{type(exc).__name__}: {exc}"
            )
            # A skipped rollback had nothing to do: the step is skipped, not failed.
            skipped = isinstance(exc, AlreadyThereError)
            output = getattr(exc, "output", None) or None
            finished(ok=skipped, skipped=skipped, detail=message, output=output)
            raise
        finished(ok=True, detail=detail, output=self.outputs.pop(name, None))
        self.update_card()

    def say(self, template: str, **data: Any) -> None:
        """Tell the card's thread; with no channel (the CLI, a replay), the requester."""
        payload = {**card.card_data(self.deps.store, self.refresh(), clock=self.deps.clock), **data}
        tell(self.deps, self.deployment, Message(template, payload))

    # -- the steps -----------------------------------------------------------

    def validate(self) -> str:
        """The built-in checks and the configured ones; the result names each of them.

        A failure's message is one line (what failed) followed by the failed checks'
        output: the card shows the line and the output's last lines below it.
        """
        problems = list(self.backend.validate(self.deployment.version))
        checks = run_checks(self.env.checks, values=self._values(), env=environment_for(self.env))
        problems += checks.failures
        if problems:
            output = checks.output
            raise DeployError(
                "Pre-deployment checks failed: "
                + "; ".join(problems)
                + (f"\n{output}" if output else ""),
                changed=False,
                output=checks.full_output,
            )
        return checks.summary if self.env.checks else "target ready"

    def backup(self) -> str:
        assert self.env.backup is not None
        result = run(
            fill(self.env.backup, self._values()), timeout=3600, env=environment_for(self.env)
        )
        timeline.append(
            self.deps.store,
            clock=self.deps.clock,
            incident_id=self.deployment.incident_id,
            actor=BOT,
            kind="deploy_backup",
            text=f"{self.deployment.id}: backup {result.describe()}",
            data={
                "deployment_id": self.deployment.id,
                "command": result.argv,
                "output_tail": result.tail(),
            },
        )
        if not result.ok:
            raise DeployError(
                f"The backup {result.describe()}:\n{result.tail(8)}",
                changed=False,
                output=result.output[-OUTPUT_KEPT:],
            )
        self.outputs["backup"] = result.output[-OUTPUT_KEPT:]
        # Where the backup went is worth reading on the card: its last lines follow.
        return f"backup {result.describe()}\n{result.tail(3)}".rstrip()

    def deploy(self) -> str:
        detail = self.backend.deploy(
            self.deployment.version,
            progress=self.progress("deploy"),
            should_abort=self.should_abort,
        )
        deployments.merge_detail(self.deps.store, self.deployment.id, deployed=detail)
        self.outputs["deploy"] = str(detail.get("output") or "")
        return str(detail.get("summary") or "rolled out")

    def rollback_target(self) -> str:
        to_version = None if self.deployment.version == "previous" else self.deployment.version
        if self.deployment.kind is Kind.DEPLOY:
            to_version = None  # undo this deployment: back to what ran before it
        detail = self.backend.rollback(
            to_version=to_version,
            before=self.deployment.before,
            progress=self.progress("rollback"),
            should_abort=lambda: False,  # a rollback is never interrupted by another rollback click
        )
        # What the backend says runs now: the version the card, timeline and postmortem name.
        to = detail.get("version") or to_version
        deployments.merge_detail(
            self.deps.store, self.deployment.id, rolled_back=detail, rolled_back_to=to
        )
        return str(detail.get("summary") or (f"back on {to}" if to else "rolled back"))

    def verify(self) -> str:
        if not self.deployment.verify:
            return "skipped (--no-verify)"
        lines = [self.verify_health()]
        if self.env.analysis is not None:
            lines.append(self.verify_metrics(self.env.analysis))
        return "; ".join(lines)

    def verify_metrics(self, settings: AnalysisSettings) -> str:
        """Post-deployment monitoring: the metric rules over the verification window."""
        d = self.refresh()
        values = registry.backend_type(self.env.backend).query_values(self.env.target)
        namespace = values.get("namespace")
        version = self.expected_version()
        context = QueryContext(
            service=d.service, namespace=namespace, version=version, canary=version
        )
        count = max(1, round(self.env.verify_seconds / settings.interval_seconds))
        analysis = Analysis.from_settings(settings, context=context, count=count)
        verdict = run_analysis(analysis, clock=self.deps.clock, should_abort=self.should_abort)
        summary = analysis.summary()
        deployments.merge_detail(self.deps.store, d.id, analysis="\n".join(summary.lines()))
        if self.should_abort():
            raise AbortedError("Rollback requested during verification.")
        if verdict == "failed":
            raise DeployError("Metric analysis failed: " + "; ".join(summary.lines()))
        if verdict == "inconclusive":
            return (
                f"metrics inconclusive ({summary.reason}): not rolled back, look at the dashboards"
            )
        return f"metrics passed ({summary.samples} samples)"

    def expected_version(self) -> str:
        """The version that should be live now: the new one, or after a rollback the old one."""
        d = self.refresh()
        if d.detail.get("rolled_back_to"):
            return str(d.detail["rolled_back_to"])
        if d.state is State.ROLLING_BACK or d.kind is Kind.ROLLBACK:
            if d.kind is Kind.ROLLBACK and d.version != "previous":
                return d.version
            return str(d.before.get("version") or d.version)
        return d.version

    def verify_health(self) -> str:
        checks = self.env.health_checks
        if not checks:
            return "no health checks configured"
        result = verify(
            checks,
            seconds=self.env.verify_seconds,
            interval=self.env.verify_interval_seconds,
            clock=self.deps.clock,
            progress=self.progress("verify"),
            should_abort=self.should_abort,
        )
        if result.aborted:
            raise AbortedError("Rollback requested during verification.")
        if not result.ok:
            raise DeployError("Verification failed: " + "; ".join(result.failures))
        return f"{result.samples} healthy sample(s) over {self.env.verify_seconds:g} s"

    def _values(self) -> dict[str, str]:
        d = self.deployment
        return {
            "version": d.version,
            "service": d.service,
            "environment": d.environment,
            "deployment_id": d.id,
        }

    # -- the flows -----------------------------------------------------------

    def run_deploy(self) -> None:
        d = self.refresh()
        if d.state is State.APPROVED:
            self.move(State.VALIDATING, "validating")
        if self.deployment.state is State.VALIDATING:
            try:
                self.step("validate", self.validate)
                if self.env.backup:
                    self.step("backup", self.backup)
            except UserFacingError as exc:
                self.fail(exc, changed=False)
                return
            self.move(State.DEPLOYING, f"deploying {d.version} ({d.strategy})")
        if self.deployment.state is State.DEPLOYING:
            try:
                self.step("deploy", self.deploy)
            except UserFacingError as exc:
                self.fail(exc, changed=getattr(exc, "changed", True))
                return
            self.move(State.VERIFYING, "verifying")
        if self.deployment.state is State.VERIFYING:
            try:
                self.step("verify", self.verify)
            except UserFacingError as exc:
                self.fail(exc, changed=True)
                return
            self.move(State.SUCCEEDED, f"{d.service} {d.version} is live in {d.environment}")
            self.finish()

    def run_rollback_request(self) -> None:
        """A requested rollback (kind rollback), once approved."""
        d = self.refresh()
        if d.state is State.APPROVED:
            self.move(State.ROLLING_BACK, f"rolling back to {d.version}")
        self.rollback_and_verify(reason="requested")

    def fail(self, exc: UserFacingError, *, changed: bool) -> None:
        # The card offers no Rollback for a failure that left the target untouched.
        deployments.merge_detail(self.deps.store, self.deployment.id, changed=changed)
        self.move(State.FAILED, f"failed: {exc.message}", error=exc.message, changed=changed)
        self.say("deploy_failed", error=exc.message, hint=exc.hint, rolling_back=changed)
        if changed:
            self.move(State.ROLLING_BACK, "automatic rollback")
            self.rollback_and_verify(reason=exc.message, after_failure=True)
        else:
            self.finish()

    def rollback_and_verify(self, *, reason: str, after_failure: bool = False) -> None:
        try:
            self.step("rollback", self.rollback_target, announce=False)
        except AlreadyThereError as exc:
            self.skip_rollback(exc, after_failure=after_failure)
            return
        except DeployError as exc:
            if not exc.changed:
                # Nothing to roll back (already at that revision, unknown version): the
                # target is as it was, so say so instead of paging people.
                deployments.merge_detail(self.deps.store, self.deployment.id, changed=False)
                self.move(
                    State.FAILED,
                    f"rollback not possible: {exc.message} (nothing was changed)",
                    error=exc.message,
                )
                self.say("deploy_failed", error=exc.message, hint=exc.hint, rolling_back=False)
                self.finish()
                return
            self.escalate_failed_rollback(exc, reason)
            return
        except UserFacingError as exc:
            self.escalate_failed_rollback(exc, reason)
            return
        try:
            self.step("rollback-verify", self.verify)
        except UserFacingError as exc:
            self.escalate_failed_rollback(exc, reason)
            return
        to = self.refresh().detail.get("rolled_back_to")
        self.move(
            State.ROLLED_BACK,
            f"rolled back to {to} ({reason})" if to else f"rolled back ({reason})",
            rolled_back_to=to,
        )
        self.finish()

    def skip_rollback(self, exc: AlreadyThereError, *, after_failure: bool) -> None:
        """Nothing to roll back: the target already runs what the rollback aims at.

        Not a failure and nobody is paged (`kubectl rollout undo`: "skipped rollback"); a
        deployment that failed stays failed, with the skip on its record.
        """
        if after_failure:
            self.move(State.FAILED, f"failed; {exc.message}", error=exc.message, skipped=True)
        else:
            self.move(State.ROLLBACK_SKIPPED, exc.message, skipped=True)
        self.finish()

    def escalate_failed_rollback(self, exc: UserFacingError, reason: str) -> None:
        """The rollback failed or left the service unhealthy: that is for people now."""
        self.deployment = deployments.transition(
            self.deps.store,
            clock=self.deps.clock,
            deployment=self.refresh(),
            to=State.FAILED,
            actor=BOT,
            text=f"rollback did not restore a healthy service: {exc.message}",
            data={"error": exc.message},
            expect=State.ROLLING_BACK,
        )
        self.update_card()
        self.say(
            "deploy_escalation", error=exc.message, reason=reason, people=self.people_to_call()
        )
        self.finish()

    def finish(self) -> None:
        deployments.release_lock(self.deps.store, self.refresh())
        self.read_running_now()
        self.update_card()
        if self.deployment.channel_id is None:
            # Nobody watches a card: the requester (a terminal, a replayed request) hears
            # the outcome directly.
            self.say("deploy_outcome")
        if self.deployment.notify_stakeholders:
            self.notify_stakeholders()

    def read_running_now(self) -> None:
        """The card's "Running now" after the end: read again from the target."""
        try:
            current = self.backend.current().as_data()
        except Exception as exc:  # best effort: the outcome stands, the card says so
            current = {"summary": f"could not read the target: {exc}"}
        deployments.merge_detail(self.deps.store, self.deployment.id, running_now=current)
        self.refresh()

    def incident(self) -> Incident | None:
        incident_id = self.deployment.incident_id
        return incidents.by_id(self.deps.store, incident_id) if incident_id else None

    def notify_stakeholders(self) -> None:
        """--notify-stakeholders: the outcome goes to the incident's announcement thread."""
        incident = self.incident()
        if incident is None or not incident.announcement_channel_id or not incident.announcement_ts:
            return
        payload = card.card_data(self.deps.store, self.deployment, clock=self.deps.clock)
        try:
            self.deps.chat.post(
                incident.announcement_channel_id,
                Message("deploy_outcome", payload),
                thread_ts=incident.announcement_ts,
            )
        except ChatError as exc:
            log.warning("%s: stakeholders not notified: %s", self.deployment.id, exc.error)

    def people_to_call(self) -> list[str]:
        """The incident's commander and its severity's responders (users and groups)."""
        incident = self.incident()
        if incident is None:
            return []
        people = [incident.commander] if incident.commander else []
        return people + list(
            self.deps.settings.incidents.policy(incident.severity.value).responders
        )


def tell(deps: DeployDeps, deployment: Deployment, message: Message) -> None:
    """Post in the card's thread; with no channel, send it to the requester directly."""
    try:
        if deployment.channel_id is not None:
            deps.chat.post(deployment.channel_id, message, thread_ts=deployment.card_ts)
        else:
            deps.chat.direct_message(deployment.requested_by, message)
    except ChatError as exc:
        log.warning("%s: could not tell %s: %s", deployment.id, message.template, exc.error)


def start(deps: DeployDeps, deployment_id: str) -> None:
    """Run an approved deployment to its end. Meant for the worker."""
    deployment = deployments.get(deps.store, deployment_id)
    held = deployments.acquire_lock(
        deps.store, clock=deps.clock, deployment=deployment, holder=deployment.requested_by
    )
    if held is not None:
        why = f"{deployment.target} is locked by {held['deployment_id']} ({held['held_by']})"
        failed = deployments.transition(
            deps.store,
            clock=deps.clock,
            deployment=deployment,
            to=State.FAILED,
            actor=BOT,
            text=why,
        )
        card.post_or_update(
            deps.store, deployment, clock=deps.clock, chat=deps.chat, channel=deployment.channel_id
        )
        if failed.channel_id is None:
            payload = card.card_data(deps.store, failed, clock=deps.clock)
            tell(
                deps,
                failed,
                Message(
                    "deploy_failed",
                    {**payload, "error": why + ".", "hint": None, "rolling_back": False},
                ),
            )
        return
    engine_run = Run(deps, deployment)
    try:
        if deployment.state is State.ROLLING_BACK:
            engine_run.rollback_and_verify(reason="resumed")
        elif deployment.kind is Kind.ROLLBACK:
            engine_run.run_rollback_request()
        else:
            engine_run.run_deploy()
    except ConflictError:
        log.info("%s was moved on by someone else", deployment_id)
    except Exception:
        log.exception("%s: the engine stopped unexpectedly", deployment_id)
        engine_run.refresh()
        if engine_run.deployment.state in IN_FLIGHT:
            interrupt(
                deps,
                engine_run.deployment,
                reason="the engine stopped unexpectedly (see the bot's log)",
            )


def interrupt(deps: DeployDeps, deployment: Deployment, *, reason: str) -> Deployment:
    """Park an in-flight deployment for a person to decide: Resume or Rollback."""
    current: dict[str, Any] = {}
    try:
        env = environment_of(deps.settings, deployment)
        current = (
            deps.backend_for(deployment, env, DeployContext(service=deployment.service))
            .current()
            .as_data()
        )
    except Exception as exc:  # reconciling is best effort; the card says what is known
        current = {"summary": f"could not read the target: {exc}"}
    deployments.merge_detail(
        deps.store, deployment.id, interrupted_in=deployment.state.value, running_now=current
    )
    moved = deployments.transition(
        deps.store,
        clock=deps.clock,
        deployment=deployment,
        to=State.INTERRUPTED,
        actor=BOT,
        text=f"interrupted while {deployment.state.label.lower()}: {reason}",
        data={"running_now": current},
    )
    card.post_or_update(
        deps.store, moved, clock=deps.clock, chat=deps.chat, channel=moved.channel_id
    )
    return moved


def recover_after_restart(deps: DeployDeps) -> list[str]:
    """On start: every deployment found in flight is reported as interrupted, never re-run blindly."""
    found = []
    for deployment in deployments.in_states(deps.store, set(IN_FLIGHT)):
        interrupt(deps, deployment, reason="the bot restarted")
        found.append(deployment.id)
    return found


def resume(deps: DeployDeps, deployment: Deployment, *, actor: str) -> None:
    """Continue an interrupted deployment from the step it was in, after reconciling."""
    interrupted_in = State(deployment.detail.get("interrupted_in", State.VALIDATING.value))
    target_state = interrupted_in
    running_now = deployment.detail.get("running_now") or {}
    if interrupted_in is State.DEPLOYING and running_now.get("version") == deployment.version:
        target_state = State.VERIFYING  # the rollout had landed: verify instead of deploying again
    if interrupted_in is State.APPROVED:
        target_state = State.VALIDATING
    deployments.transition(
        deps.store,
        clock=deps.clock,
        deployment=deployment,
        to=target_state,
        actor=actor,
        text=f"resumed ({target_state.label.lower()})",
        expect=State.INTERRUPTED,
    )
    start(deps, deployment.id)


def rollback_now(
    deps: DeployDeps, deployment: Deployment, *, actor: str, reason: str, seen: State
) -> None:
    """The Rollback button on a finished or interrupted deployment.

    `seen` is the state the person clicked on: a double click or a retry finds the
    deployment already rolling back and raises ConflictError instead of rolling back twice.
    """
    try:
        deployments.transition(
            deps.store,
            clock=deps.clock,
            deployment=deployment,
            to=State.ROLLING_BACK,
            actor=actor,
            text=f"rollback ({reason})",
            expect=seen,
        )
    except ConflictError:
        log.info("%s: rollback already under way (a repeated click)", deployment.id)
        return
    withdraw.supersede_pending(
        deps.store,
        clock=deps.clock,
        chat=deps.chat,
        target=deployment,
        actor=actor,
        by=f"rollback of {deployment.id}",
    )
    held = deployments.acquire_lock(
        deps.store, clock=deps.clock, deployment=deployment, holder=actor
    )
    if held is not None and held["deployment_id"] != deployment.id:
        raise ConflictError(
            f"{deployment.target} is locked by {held['deployment_id']} ({held['held_by']})."
        )
    Run(deps, deployments.get(deps.store, deployment.id)).rollback_and_verify(reason=reason)
