"""One pass of the engine over one deployment: the state machine.

approved → validating → deploying → verifying → succeeded, or
failed → rolling_back → rolled_back. Each step is recorded before and after it runs
(`Run.step`); the steps themselves are in `steps`, `verification` and `database`.

validating: gates (the `requires:` gate again), ci, validate, backup, migrate-up ·
deploying: deploy · verifying: smoke, verify, after-deploy hooks · rolling back (in
`rolling_back`): rollback (code), migrate-down, migrate-verify (migrate-snapshot if either
fails), rollback-verify, after-rollback hooks.
A migration runs at most once per deployment: one recorded as done is skipped, one found
interrupted or failed is never run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from services.chat import Message
from services.ci import gate as ci_gate
from services.deploy import card, deployments, gates, promotion, registry
from services.deploy.backend import AlreadyThereError
from services.deploy.context import StoreContext
from services.deploy.engine import database, rolling_back, stakeholders, steps, verification
from services.deploy.engine.deps import BOT, DeployDeps, environment_of, tell
from services.deploy.engine.steps import Done
from services.deploy.model import Deployment, Kind, State
from services.deploy.settings import Check
from services.errors import UserFacingError

log = logging.getLogger(__name__)


class Run:
    """One pass of the engine over one deployment."""

    def __init__(self, deps: DeployDeps, deployment: Deployment, *, resumed: bool = False) -> None:
        self.deps = deps
        self.deployment = deployment
        self.env = environment_of(deps.settings, deployment)
        # Resumed after a restart (for the log; the steps' records decide what runs again).
        self.resumed = resumed
        self.migrations = database.settings_of(deps, deployment)
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

    def step(self, name: str, action: Callable[[], Done], *, announce: bool = True) -> Done:
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
            done = action()
        except Exception as exc:
            message = (
                exc.message if isinstance(exc, UserFacingError) else f"{type(exc).__name__}: {exc}"
            )
            # A skipped rollback had nothing to do: the step is skipped, not failed.
            skipped = isinstance(exc, AlreadyThereError)
            output = getattr(exc, "output", None) or None
            finished(ok=skipped, skipped=skipped, detail=message, output=output)
            raise
        finished(ok=True, detail=done.detail, output=done.output)
        self.update_card()
        return done

    def recorded_step(self, name: str) -> dict[str, Any] | None:
        """The recorded row of a step of this deployment (state, detail...), or None."""
        found = [
            s for s in deployments.steps(self.deps.store, self.deployment.id) if s["step"] == name
        ]
        return found[0] if found else None

    def recorded(self, name: str) -> str | None:
        """The recorded state of a step of this deployment (ok, failed, running...), or None."""
        found = self.recorded_step(name)
        return str(found["state"]) if found else None

    def skip_step(self, name: str, why: str) -> None:
        """A step not run, on the card and the timeline with the reason."""
        store, clock = self.deps.store, self.deps.clock
        deployments.step_started(store, clock=clock, deployment_id=self.deployment.id, step=name)
        deployments.step_finished(
            store,
            clock=clock,
            deployment=self.deployment,
            step=name,
            ok=True,
            skipped=True,
            detail=why,
        )
        self.update_card()

    def say(self, template: str, **data: Any) -> None:
        """Tell the card's thread; with no channel (the CLI, a replay), the requester."""
        payload = {**card.card_data(self.deps.store, self.refresh(), clock=self.deps.clock), **data}
        tell(self.deps, self.deployment, Message(template, payload))

    # -- the steps -----------------------------------------------------------

    def wait_for_ci(self) -> Done:
        return Done(
            ci_gate.wait_for_green(
                self.deps, self.env, self.refresh(), should_abort=self.should_abort
            )
        )

    def validate(self) -> Done:
        return steps.validate(self.backend, self.env, self.deployment)

    def backup(self) -> Done:
        return steps.backup(self.deps, self.env, self.deployment)

    def deploy(self) -> Done:
        return steps.deploy(
            self.deps,
            self.backend,
            self.deployment,
            progress=self.progress("deploy"),
            should_abort=self.should_abort,
        )

    def roll_back(self) -> Done:
        return steps.roll_back(
            self.deps, self.backend, self.deployment, progress=self.progress("rollback")
        )

    def commands(
        self, checks: list[Check], what: str, *, version: str | None = None
    ) -> Callable[[], Done]:
        return lambda: steps.commands(self.env, self.deployment, checks, what=what, version=version)

    def migration(self, name: str, *, version: str) -> Done:
        """A migration step, at most once per deployment: one recorded as done is skipped,
        one found started (interrupted) or failed is never run again (DeployError: the
        database's state is for people now). A second Rollback, a Resume and a restart all
        come through here."""
        assert self.migrations is not None
        found = self.recorded_step(name)
        if found is not None and found["state"] == "ok":
            return Done(str(found.get("detail") or "done before: not run twice"))
        if found is not None and found["state"] in ("running", "failed"):
            error = (
                database.interrupted(name)
                if found["state"] == "running"
                else database.already_failed(name)
            )
            deployments.step_finished(
                self.deps.store,
                clock=self.deps.clock,
                deployment=self.deployment,
                step=name,
                ok=False,
                detail=error.message,
            )
            raise error
        migrations, d = self.migrations, self.deployment
        return self.step(
            name, lambda: database.migrate(self.env, migrations, d, step=name, version=version)
        )

    def hooks(self, name: str, checks: list[Check], *, version: str | None = None) -> None:
        """after_deploy / after_rollback: a failing hook is reported, and changes nothing else.

        {version} is what runs now: the new version, or after a rollback the one restored."""
        if not checks:
            return
        try:
            self.step(name, self.commands(checks, f"The {name} hook", version=version))
        except UserFacingError as exc:
            self.say("deploy_hook_failed", hook=name, error=exc.message)

    def verify(self) -> Done:
        return verification.verify(
            self.deps,
            self.env,
            self.deployment,
            progress=self.progress("verify"),
            should_abort=self.should_abort,
        )

    # -- the flows -----------------------------------------------------------

    def run_deploy(self) -> None:
        d = self.refresh()
        if d.state is State.APPROVED:
            self.move(State.VALIDATING, "validating")
        if self.deployment.state is State.VALIDATING:
            try:
                if d.kind is Kind.DEPLOY and self.env.requires and not self.break_glass():
                    self.step("gates", self.recheck_gates)
                if self.env.requires_ci and self.break_glass():
                    self.skip_step("ci", "BREAK-GLASS: skipped CI gate: CI is not waited for")
                elif self.env.requires_ci:
                    self.step("ci", self.wait_for_ci)
                self.step("validate", self.validate)
                if self.env.backup:
                    self.step("backup", self.backup)
            except UserFacingError as exc:
                self.fail(exc, changed=False)
                return
            if self.migrations is not None and self.migrations.up:
                try:
                    self.migration(database.UP, version=d.version)
                except UserFacingError as exc:
                    # Nothing rolled out, but a failed (or interrupted) `up` may have
                    # changed the database: the rollback runs `down` (code stays as is).
                    self.fail(exc, changed=True)
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
                if self.env.smoke:
                    self.step("smoke", self.commands(self.env.smoke, "Smoke tests"))
                self.step("verify", self.verify)
            except UserFacingError as exc:
                self.fail(exc, changed=True)
                return
            self.hooks("after-deploy", self.env.after_deploy)
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

    def break_glass(self) -> bool:
        """Break-glass applied at request time (a severe incident): the promotion gates are
        skipped here too, a CI merely pending then included."""
        detail = self.deployment.detail
        skipped = detail.get("gates_skipped") or []
        return bool(detail.get("break_glass_gates")) or any(
            isinstance(r, dict) and r.get("gate") == "ci" for r in skipped
        )

    def recheck_gates(self) -> Done:
        """The `requires:` gate again as the approved deploy starts: an approval an hour
        later must not ship what staging no longer vouches for (GateRefusedError, its
        reasons and the commands that would supply them)."""
        d = self.deployment
        found = promotion.refusals(
            self.deps, self.env, service=d.service, environment=d.environment, version=d.version
        )
        if found:
            commands = "\n".join(f"Run `{r.command}`" for r in found if r.command)
            raise gates.GateRefusedError(
                f"{d.service} {d.version} may no longer be deployed to {d.environment}: "
                + "; ".join(r.reason for r in found)
                + ".\n"
                + commands,
                hint=commands or None,
            )
        return Done("still passed: " + ", ".join(self.env.requires))

    def rolled_out(self) -> bool:
        """Did this run touch the code? A deploy that failed before its rollout (a failed
        migration `up`) has only its data to roll back."""
        return self.deployment.kind is Kind.ROLLBACK or self.recorded("deploy") is not None

    def rollback_and_verify(self, *, reason: str, after_failure: bool = False) -> None:
        rolling_back.rollback_and_verify(self, reason=reason, after_failure=after_failure)

    def finish(self) -> None:
        deployments.release_lock(self.deps.store, self.refresh())
        self.read_running_now()
        self.update_card()
        if self.deployment.channel_id is None:
            # Nobody watches a card: the requester (a terminal, a replayed request) hears
            # the outcome directly.
            self.say("deploy_outcome")
        if self.deployment.notify_stakeholders:
            stakeholders.notify(self.deps, self.deployment)

    def read_running_now(self) -> None:
        """The card's "Running now" after the end: read again from the target."""
        try:
            current = self.backend.current().as_data()
        except Exception as exc:  # best effort: the outcome stands, the card says so
            current = {"summary": f"could not read the target: {exc}"}
        deployments.merge_detail(self.deps.store, self.deployment.id, running_now=current)
        self.refresh()
