"""Reading a Rollout: what the card shows and the loop decides on, from its spec and status.

The rules are the plugin's and the controller's (utils/rollout/rolloututil.go,
utils/replicaset/canary.go): until ``status.observedGeneration`` (a string) equals
``metadata.generation`` the controller has not seen the change; the canary's weight is the
traffic router's (``status.canary.weights``) when there is one, else the step's
``setWeight`` (the last one at or before ``status.currentStepIndex``, 100 past the last step);
an update is done when ``status.stableRS`` is the ``currentPodHash`` and the phase Healthy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.kube.images import containers, image_of
from services.kube.rollouts import revision_of

# Pause conditions that wait for a person (promote), as opposed to a timed pause step
# (pkg/apis/rollouts/v1alpha1/types.go PauseReason).
CANARY_PAUSE = "CanaryPauseStep"
BLUE_GREEN_PAUSE = "BlueGreenPause"
INCONCLUSIVE = ("InconclusiveAnalysisRun", "InconclusiveExperiment")


def container_index(obj: Mapping[str, Any], container: str) -> int | None:
    return next((i for i, c in enumerate(containers(obj)) if c.get("name") == container), None)


def strategy_of(obj: Mapping[str, Any]) -> str | None:
    strategy = (obj.get("spec") or {}).get("strategy") or {}
    if "canary" in strategy:
        return "canary"
    if "blueGreen" in strategy:
        return "blue-green"
    return None


def steps_of(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    strategy = (obj.get("spec") or {}).get("strategy") or {}
    found: list[dict[str, Any]] = (strategy.get("canary") or {}).get("steps") or []
    return found


def stages_of(obj: Mapping[str, Any]) -> tuple[int, ...]:
    """The weights the canary walks through (its setWeight steps, then 100); blue-green is
    preview (0) then active (100)."""
    weights = [int(s["setWeight"]) for s in steps_of(obj) if "setWeight" in s]
    if not weights or weights[-1] != 100:
        weights.append(100)
    return tuple(weights) if strategy_of(obj) == "canary" else (0, 100)


def set_weight(steps: list[dict[str, Any]], index: int) -> int:
    """replicasetutil.GetCurrentSetWeight."""
    if index >= len(steps):
        return 100
    for step in reversed(steps[: index + 1]):
        if "setWeight" in step:
            return int(step["setWeight"])
    return 0


@dataclass(frozen=True)
class RolloutView:
    """One read of a Rollout, in the terms the backend decides on."""

    name: str
    observed: bool  # the controller has seen the latest spec
    phase: str
    message: str
    paused: bool  # spec.paused: someone (the card's Pause) holds it
    pause_reasons: tuple[str, ...]
    controller_pause: bool
    aborted: bool
    current_hash: str
    stable_hash: str
    step_index: int | None
    step_count: int
    untimed_pause: bool  # the current step is a pause without duration
    # status.canary.currentStepAnalysisRunStatus says Inconclusive (the plugin's isInconclusive)
    step_analysis_inconclusive: bool
    weight: int
    image: str | None
    revision: int

    @property
    def updating(self) -> bool:
        return bool(self.current_hash) and self.current_hash != self.stable_hash

    @property
    def done(self) -> bool:
        return self.observed and not self.updating and self.phase == "Healthy"

    @property
    def degraded(self) -> bool:
        # An abort already retried (status.abort back to false) that the controller has not
        # reconciled yet still reads Degraded: RolloutAborted.
        retried = not self.aborted and self.message.startswith("RolloutAborted")
        return self.observed and self.phase == "Degraded" and not retried

    @property
    def inconclusive_step_analysis(self) -> bool:
        """Where the plugin's promote marks the step done rather than clearing the pause."""
        return (
            self.step_analysis_inconclusive and bool(self.pause_reasons) and self.controller_pause
        )

    @property
    def waiting_for_person(self) -> bool:
        """Paused by the controller until someone promotes (not a timed pause)."""
        if BLUE_GREEN_PAUSE in self.pause_reasons:
            return True
        if any(reason in INCONCLUSIVE for reason in self.pause_reasons):
            return True
        return CANARY_PAUSE in self.pause_reasons and self.untimed_pause


def read(obj: Mapping[str, Any], container: str) -> RolloutView:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    observed = str(status.get("observedGeneration") or "") == str(meta.get("generation") or "")
    steps = steps_of(obj)
    index = status.get("currentStepIndex")
    step = steps[index] if isinstance(index, int) and 0 <= index < len(steps) else {}
    current, stable = str(status.get("currentPodHash") or ""), str(status.get("stableRS") or "")
    weights = (status.get("canary") or {}).get("weights") or {}
    if strategy_of(obj) == "blue-green":
        active = (status.get("blueGreen") or {}).get("activeSelector")
        weight = 100 if current and active == current else 0
    elif weights:
        weight = int((weights.get("canary") or {}).get("weight") or 0)
    elif current and current == stable:
        weight = 100
    elif status.get("abort"):
        weight = 0
    else:
        weight = set_weight(steps, index if isinstance(index, int) else len(steps))
    return RolloutView(
        name=str(meta.get("name") or ""),
        observed=observed,
        phase=str(status.get("phase") or ""),
        message=str(status.get("message") or ""),
        paused=bool(spec.get("paused")),
        pause_reasons=tuple(str(c.get("reason")) for c in status.get("pauseConditions") or []),
        controller_pause=bool(status.get("controllerPause")),
        aborted=bool(status.get("abort")),
        current_hash=current,
        stable_hash=stable,
        step_index=index if isinstance(index, int) else None,
        step_count=len(steps),
        untimed_pause="pause" in step and "duration" not in (step.get("pause") or {}),
        step_analysis_inconclusive=strategy_of(obj) == "canary"
        and ((status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}).get("status")
        == "Inconclusive",
        weight=weight,
        image=image_of(obj, container),
        revision=revision_of(dict(obj)),
    )
