"""The rollback half of an engine run: the code back, then the data, then verify.

rollback (code) → migrate-down → migrate-verify (migrate-snapshot and manual intervention
if either fails) → rollback-verify → after-rollback hooks. A failure past the code
rollback is for people (escalated); a failed database rollback stops everything.
Each function takes the `Run` (services.deploy.engine.run) whose deployment rolls back.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from services import timeline
from services.clock import Clock
from services.deploy import deployments
from services.deploy.backend import AlreadyThereError
from services.deploy.engine import database, stakeholders, verification
from services.deploy.engine.deps import BOT
from services.deploy.model import Deployment, Kind, State
from services.deploy.versions import rollback_aim
from services.errors import ConflictError, DeployError, UserFacingError
from services.store import Store

if TYPE_CHECKING:
    from services.deploy.engine.run import Run


def aim(d: Deployment) -> str | None:
    """The version a rollback goes back to, or None when nobody can tell: a "previous"
    rollback whose backend did not say where it went."""
    if d.detail.get("rolled_back_to"):
        return str(d.detail["rolled_back_to"])
    typed = rollback_aim(d)
    if typed is not None:
        return typed
    if d.kind is Kind.DEPLOY and d.before.get("version"):
        return str(d.before["version"])  # this deployment undone: what ran before it
    return None


def refuse_rollback_of_target(store: Store, service: str, environment: str) -> None:
    """`/hotfix rollback` (a new rollback record) on a target whose newest finished
    deployment left its database to people: refused like that deployment's Rollback button
    (code only, --preserve-data, is not refused: the caller skips this)."""
    newest = deployments.latest_for_target(
        store, service, environment, states={State.FAILED, State.SUCCEEDED, State.ROLLED_BACK}
    )
    if newest is not None:
        refuse_after_manual_intervention(newest)


def refuse_after_manual_intervention(d: Deployment) -> None:
    """A deployment whose database rollback failed is for people: no Rollback runs `down`
    again on a database in an unknown state (ConflictError naming the snapshot)."""
    manual = d.detail.get("manual_intervention")
    if not isinstance(manual, dict):
        return
    raise ConflictError(
        f"{d.id} needs manual intervention: its database rollback failed, so no rollback"
        " runs it again. Emergency snapshot: " + str(manual.get("snapshot") or "none")[:500] + ".",
        hint="Restore or repair the database by hand; to move the code only, run"
        f" /hotfix rollback --target={d.environment} --service={d.service} --preserve-data.",
    )


def rollback_and_verify(run: Run, *, reason: str, after_failure: bool = False) -> None:
    if not run.rolled_out():
        run.skip_step("rollback", "nothing was rolled out: the code is unchanged")
    elif run.recorded("rollback") == "ok":
        # The code went back already (before a restart, or a Rollback clicked again after
        # an escalation): undoing twice would bring the abandoned version back.
        pass
    elif not roll_back_code(run, reason, after_failure=after_failure):
        return
    if not roll_back_data(run, reason):
        return
    try:
        run.step("rollback-verify", run.verify)
    except UserFacingError as exc:
        escalate_failed_rollback(run, exc, reason)
        return
    run.hooks(
        "after-rollback",
        run.env.after_rollback,
        version=verification.expected_version(run.refresh()),
    )
    to = run.refresh().detail.get("rolled_back_to")
    run.move(
        State.ROLLED_BACK,
        f"rolled back to {to} ({reason})" if to else f"rolled back ({reason})",
        rolled_back_to=to,
    )
    run.finish()


def roll_back_code(run: Run, reason: str, *, after_failure: bool) -> bool:
    """The code rollback; False when the run ended here (skipped, impossible, failed)."""
    try:
        run.step("rollback", run.roll_back, announce=False)
    except AlreadyThereError as exc:
        skip_rollback(run, exc, after_failure=after_failure)
        return False
    except DeployError as exc:
        if not exc.changed:
            # Nothing to roll back (already at that revision, unknown version): the
            # target is as it was, so say so instead of paging people.
            deployments.merge_detail(run.deps.store, run.deployment.id, changed=False)
            run.move(
                State.FAILED,
                f"rollback not possible: {exc.message} (nothing was changed)",
                error=exc.message,
            )
            run.say("deploy_failed", error=exc.message, hint=exc.hint, rolling_back=False)
            run.finish()
            return False
        escalate_failed_rollback(run, exc, reason)
        return False
    except UserFacingError as exc:
        escalate_failed_rollback(run, exc, reason)
        return False
    return True


def roll_back_data(run: Run, reason: str) -> bool:
    """`down` then `verify`, after the code; False when people must take over."""
    m = run.migrations
    if m is None:
        return True
    if run.deployment.kind is Kind.DEPLOY and run.recorded(database.UP) is None:
        return True  # this deployment never migrated: nothing to revert
    if not m.down:
        # Said, not silent: the schema stays as `up` left it.
        run.skip_step(database.DOWN, "no migrations.down configured: the database is kept")
        return True
    if run.refresh().detail.get("preserve_data"):
        run.skip_step(database.DOWN, "--preserve-data: code only, data and schema kept")
        return True
    version = aim(run.refresh())
    if version is None:
        # `down` to the abandoned version would be a no-op and `verify` would pass the wrong
        # schema: better said than guessed.
        run.skip_step(
            database.DOWN,
            "the version the rollback went back to is unknown, so down is NOT run: run it by"
            f" hand: {shlex.join(m.down)} (with the version that runs now)",
        )
        return True
    try:
        run.migration(database.DOWN, version=version)
        if m.verify:
            run.migration(database.VERIFY, version=version)
    except UserFacingError as exc:
        manual_intervention(run, exc, reason, version=version)
        return False
    return True


def manual_intervention(run: Run, exc: UserFacingError, reason: str, *, version: str) -> None:
    """A failed `down` or `verify`: the emergency dump, then stop and call people."""
    snapshot = "no snapshot command is configured (migrations.snapshot)"
    if run.migrations is not None and run.migrations.snapshot:
        try:
            done = run.migration(database.SNAPSHOT, version=version)
            snapshot = done.detail
        except UserFacingError as failed:
            snapshot = f"the snapshot failed too: {failed.message}"
    deployments.merge_detail(
        run.deps.store,
        run.deployment.id,
        manual_intervention={"error": exc.message, "snapshot": snapshot},
    )
    hand_over(
        run,
        f"manual intervention required: {exc.message.partition(chr(10))[0]}",
        "deploy_manual_intervention",
        error=exc.message,
        reason=reason,
        snapshot=snapshot,
    )


def skip_rollback(run: Run, exc: AlreadyThereError, *, after_failure: bool) -> None:
    """Nothing to roll back: the target already runs what the rollback aims at.

    Not a failure and nobody is paged (`kubectl rollout undo`: "skipped rollback"); a
    deployment that failed stays failed, with the skip on its record.
    """
    if after_failure:
        run.move(State.FAILED, f"failed; {exc.message}", error=exc.message, skipped=True)
    else:
        run.move(State.ROLLBACK_SKIPPED, exc.message, skipped=True)
    run.finish()


def escalate_failed_rollback(run: Run, exc: UserFacingError, reason: str) -> None:
    """The rollback failed or left the service unhealthy: that is for people now."""
    hand_over(
        run,
        f"rollback did not restore a healthy service: {exc.message}",
        "deploy_escalation",
        error=exc.message,
        reason=reason,
    )


def hand_over(run: Run, text: str, template: str, **told: str) -> None:
    """The rollback could not finish the job: failed (on the timeline with what went wrong),
    and the people the escalation path names are called in the card's thread."""
    run.deployment = deployments.transition(
        run.deps.store,
        clock=run.deps.clock,
        deployment=run.refresh(),
        to=State.FAILED,
        actor=BOT,
        text=text,
        data={key: told[key] for key in ("error", "snapshot") if key in told},
        expect=State.ROLLING_BACK,
    )
    run.update_card()
    run.say(template, **told, people=stakeholders.people_to_call(run.deps, run.deployment))
    run.finish()


def keep_data(store: Store, *, clock: Clock, deployment: Deployment, actor: str) -> None:
    """`/hotfix rollback --preserve-data` for a deployment still running or interrupted:
    its own rollback (the Rollback button's) then runs no `down`. On the record first,
    before the hand-off, so the engine's rollback reads it."""
    deployments.merge_detail(store, deployment.id, preserve_data=True)
    timeline.append(
        store,
        clock=clock,
        incident_id=deployment.incident_id,
        actor=actor,
        kind="deploy_preserve_data",
        text=f"{deployment.id}: rollback with --preserve-data: code only, no down-migration",
        data={"deployment_id": deployment.id},
    )
