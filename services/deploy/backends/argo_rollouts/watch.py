"""Following a Rollout until its update is done, and steering it with the card's buttons.

At every poll: a Rollback request aborts the Rollout (`kubectl argo rollouts abort`) and
stops; the card's controls are applied the way the plugin does - Promote is
``promote --full``, Pause is ``pause`` (spec.paused), Resume undoes our pause or, where the
Rollout waits at an untimed pause step (or a blue-green pause), is ``promote`` (clears the
pause conditions: the next step goes); then the Rollout's status is reported to the card as a
`CanaryState`. A Degraded Rollout (aborted, progress deadline exceeded) fails the deployment.
Waiting uses the injected clock; a step that does not move within ``step_timeout_seconds``
fails it, except while the card holds it (Pause, or a Rollout waiting for a person), as the
Kubernetes canary's stage clock stands still while held: the card says so, and Resume or
Rollback ends it.

What the loop did itself - that it paused the Rollout, the step it asked a person about - is
kept in the reported state (``extra``), so a restarted bot resuming the same deployment can
undo its own pause and knows which hold is its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from services.clock import Clock, isoformat
from services.deploy.backend import (
    PAUSED_BY_PERSON,
    RUNNING,
    WAITING_FOR_DECISION,
    AbortedError,
    DeployContext,
    Progress,
    ShouldAbort,
)
from services.deploy.backends.argo_rollouts.settings import ArgoRolloutsTarget
from services.deploy.backends.argo_rollouts.status import (
    RolloutView,
    read,
    stages_of,
)
from services.deploy.live import CanaryState, Phase
from services.errors import DeployError
from services.kube.client import KubeError
from services.kube.images import split_image
from services.kube.rollouts import Rollouts

# Keys of the reported state's `extra`: what this loop did to the Rollout, for a restart.
PAUSED_BY_BOT = "paused_by_bot"
HELD_AT_STEP = "held_at_step"


class RolloutWatch:
    """One deployment's view of its Rollout, from the image write to Healthy."""

    def __init__(
        self,
        api: Rollouts,
        target: ArgoRolloutsTarget,
        *,
        clock: Clock,
        context: DeployContext,
        progress: Progress,
        should_abort: ShouldAbort,
        version: str,
        stable_image: str | None,
        image: str | None = None,
        promote_full: bool = False,
    ) -> None:
        self.api = api
        self.target = target
        self.clock = clock
        self.context = context
        self.progress = progress
        self.should_abort = should_abort
        self.version = version
        self.image = image or f"{target.image}:{version}"
        self.stable_image = stable_image
        self.label = api.where(target.rollout)
        self.promoted = False
        # A rollback's undo goes back to a version that ran already: promote it at once
        # instead of walking the canary steps again.
        self.promote_full = promote_full
        self.paused_by_us = False
        self.held_at: int | None = None  # the step we asked a person about (context.hold)
        recorded = context.recorded()
        self.state = recorded if recorded is not None and recorded.phase.resumable else None
        self.said = ""
        if self.state is not None and self.state.canary_version == version:
            self._restore(self.state)

    def _restore(self, state: CanaryState) -> None:
        """An earlier run of this deployment (before a restart): its pause and its hold."""
        self.paused_by_us = bool(state.extra.get(PAUSED_BY_BOT))
        held_at = state.extra.get(HELD_AT_STEP)
        if isinstance(held_at, int) and self.context.controls().paused == WAITING_FOR_DECISION:
            self.held_at = held_at

    # ----------------------------------------------------------------- the loop

    def until_done(self) -> RolloutView:
        deadline = self.clock.now() + timedelta(seconds=self.target.step_timeout_seconds)
        moved: tuple[Any, ...] = ()
        while True:
            obj = self._read()
            view = read(obj, self.target.container) if obj is not None else None
            if self.should_abort():
                with self._writing():
                    self._abort(view, "abort requested")
                where = f" at step {self._step(view)}" if view is not None else ""
                raise AbortedError(f"Abort requested{where}: {self.label} aborted.")
            held = False
            if view is not None:
                with self._writing():
                    held = self._steer(view)
                self._report(obj or {}, view)
                if view.done and view.image == self.image:
                    return view
                if view.degraded:
                    self._report(obj or {}, view, phase=Phase.ABORTED, aborted=view.message)
                    raise DeployError(
                        f"The update of {self.label} to {self.image} failed: the Rollout is"
                        f" Degraded ({view.message or 'no message'}).",
                        hint=f"See kubectl argo rollouts get rollout {self.target.rollout}"
                        f" -n {self.target.namespace}; retry with a new version, or roll back.",
                    )
                position = (view.step_index, view.weight, view.phase, view.current_hash)
                if position != moved or held:
                    moved = position
                    deadline = self.clock.now() + timedelta(
                        seconds=self.target.step_timeout_seconds
                    )
            if self.clock.now() >= deadline:
                raise DeployError(
                    f"{self.label} did not move for {self.target.step_timeout_seconds:g} s"
                    f" ({self.said or 'no status'}).",
                    hint=f"See kubectl argo rollouts get rollout {self.target.rollout}"
                    f" -n {self.target.namespace}.",
                )
            self.clock.sleep(self.target.poll_interval_seconds)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The loop's own writes come after the image was set: an error in them (403, 422)
        leaves a changed Rollout, which the engine must offer to roll back."""
        try:
            yield
        except KubeError as exc:
            exc.changed = True
            raise

    def _read(self) -> dict[str, Any] | None:
        try:
            return self.api.get(self.target.rollout)
        except KubeError as exc:
            if not exc.retryable:
                exc.changed = True
                raise
            self.progress(f"{exc.message} (retrying)")
            return None

    # ----------------------------------------------------------------- the buttons

    def _steer(self, view: RolloutView) -> bool:
        """Apply the card's controls; whether the card holds the Rollout (no step timeout)."""
        name = self.target.rollout
        controls = self.context.controls()
        if (controls.promote or self.promote_full) and not self.promoted:
            if not view.observed:
                return False  # a template change not seen yet would reset promoteFull
            self.promoted = True
            self.progress(f"promoting {self.label} at step {self._step(view)}: promote --full")
            if view.paused:
                self.api.unpause(name)
            if view.updating:
                self.api.promote_full(name)
            self._released()
            return False
        if controls.paused == PAUSED_BY_PERSON and not view.paused:
            self.progress(f"pausing {self.label} ({controls.reason or 'by a person'})")
            self.api.pause(name)
            self.paused_by_us = True
        elif controls.paused == WAITING_FOR_DECISION and self.held_at is None:
            if view.waiting_for_person:  # a hold of ours from before a restart
                self.held_at = view.step_index
        elif controls.paused == RUNNING:
            if view.paused and self.paused_by_us:
                self.progress(f"resuming {self.label}")
                self.api.unpause(name)
                self.paused_by_us = False
            if self.held_at is not None:
                if view.waiting_for_person and view.step_index == self.held_at:
                    self.progress(f"resumed at step {self._step(view)}: promote")
                    self._promote(view)
                self.held_at = None
            elif view.waiting_for_person:
                self._hold(view)
        if self.held_at is not None and not view.waiting_for_person:
            self._released()  # someone promoted it with the plugin meanwhile
        return controls.holding or self.held_at is not None

    def _hold(self, view: RolloutView) -> None:
        name = self.target.rollout
        self.held_at = view.step_index
        reason = ", ".join(view.pause_reasons)
        self.context.hold(
            f"the Rollout waits at step {self._step(view)} ({reason}): Resume goes on,"
            " Promote goes to 100%"
        )
        # Where the card has no canary controls (blue-green), this says what to do.
        self.context.announce(
            f"{self.label} waits for a person at step {self._step(view)} ({reason}):"
            f" Resume on the card, or kubectl argo rollouts promote {name}"
            f" -n {self.target.namespace}."
        )

    def _promote(self, view: RolloutView) -> None:
        """`kubectl argo rollouts promote` (no --full) on a Rollout waiting for a person: after
        an inconclusive step analysis the step is done (the next one goes), else the pause
        conditions are cleared."""
        if view.inconclusive_step_analysis:
            index = view.step_index or 0
            self.api.promote_past_step(
                self.target.rollout, index + 1 if index < view.step_count else index
            )
        else:
            self.api.clear_pause_conditions(self.target.rollout)

    def _released(self) -> None:
        if self.held_at is not None:
            self.held_at = None
            self.context.release()

    def _abort(self, view: RolloutView | None, why: str) -> None:
        if view is not None and view.updating and not view.aborted:
            self.progress(f"aborting {self.label}: traffic back to the stable ReplicaSet")
            self.api.abort(self.target.rollout)
        if self.state is not None:
            self._put(self.state.changed(phase=Phase.ABORTED, weight=0, aborted=why), force=True)

    # ----------------------------------------------------------------- the card

    @staticmethod
    def _step(view: RolloutView | None) -> str:
        if view is None or view.step_index is None:
            return "-"
        return f"{min(view.step_index + 1, view.step_count)}/{view.step_count}"

    def _report(
        self,
        obj: Mapping[str, Any],
        view: RolloutView,
        *,
        phase: Phase | None = None,
        aborted: str | None = None,
    ) -> None:
        stages = stages_of(obj)
        stage = max((i for i, w in enumerate(stages) if w <= view.weight), default=0)
        if phase is None:
            phase = Phase.DONE if view.done and view.image == self.image else Phase.STAGE
        name = self.target.rollout
        state = CanaryState(
            phase=phase,
            stages=stages,
            canary_version=self.version,
            stage=stage,
            weight=view.weight,
            canary_image=self.image,
            stable_version=split_image(self.stable_image or "")[1],
            stable_image=self.stable_image,
            canary_deployment=f"{name}-{view.current_hash}" if view.current_hash else None,
            stable_deployment=f"{name}-{view.stable_hash}" if view.stable_hash else None,
            virtual_service=f"rollout/{name}",
            started_at=self.state.started_at if self.state else isoformat(self.clock.now()),
            aborted=aborted,
            promoted_by_person=self.promoted,
            paused=view.paused,
            waiting=view.waiting_for_person,
            pause_reason=", ".join(view.pause_reasons) or ("paused" if view.paused else None),
            extra={
                "rollout_phase": view.phase,
                "rollout_message": view.message,
                "rollout_step": self._step(view),
                "rollout_revision": view.revision,
                PAUSED_BY_BOT: self.paused_by_us,
                HELD_AT_STEP: self.held_at,
            },
        )
        said = f"{view.phase or 'Unknown'}: step {self._step(view)}, weight {view.weight}%" + (
            f" ({view.message})" if view.message else ""
        )
        if said != self.said:
            self.progress(said)
            self.said = said
        self._put(state, force=phase in (Phase.DONE, Phase.ABORTED))

    def _put(self, state: CanaryState, *, force: bool = False) -> None:
        before = self.state
        material = before is None or (
            before.phase,
            before.stage,
            before.weight,
            before.paused,
            before.waiting,
            before.extra.get("rollout_phase"),
        ) != (
            state.phase,
            state.stage,
            state.weight,
            state.paused,
            state.waiting,
            state.extra.get("rollout_phase"),
        )
        self.state = state
        self.context.report(state, material=material, force=force)
