"""The canary section of the deployment card (and of `deploy status`), as data computed from
the deployment's `CanaryState`: the templates present it and read no stored keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from services.deploy import live
from services.deploy.live import CanaryState


@dataclass(frozen=True)
class CanaryView:
    phase: str  # a live.Phase value
    canary_version: str
    canary_deployment: str | None
    stable_deployment: str | None
    stable_version: str | None
    weight: int  # percent on the new version
    stable_weight: int
    stage_number: int  # 1-based
    stage_count: int
    # "4 min 05 s" while the stage's pause counts down; None when held or not timed.
    time_left: str | None
    # Why the weight holds, from the people's controls: "waiting" (for a decision after an
    # inconclusive analysis), "paused" (by a person), "promoting" (Promote was pressed).
    hold: str | None
    pause_reason: str | None
    promoted_by_person: bool
    aborted: str | None  # why, once aborted
    metrics: list[dict[str, Any]]  # the analysis table: name, value, condition, outcome
    drift_corrections: int
    drift: str | None  # the last correction

    @classmethod
    def of(cls, state: CanaryState) -> CanaryView:
        hold = (
            "waiting"
            if state.waiting
            else "paused"
            if state.paused
            else "promoting"
            if state.promote_requested
            else None
        )
        return cls(
            phase=state.phase.value,
            canary_version=state.canary_version,
            canary_deployment=state.canary_deployment,
            stable_deployment=state.stable_deployment,
            stable_version=state.stable_version,
            weight=state.weight,
            stable_weight=100 - state.weight,
            stage_number=state.stage + 1,
            stage_count=len(state.stages),
            time_left=_time_left(state.time_left_seconds)
            if not (state.paused or state.waiting)
            else None,
            hold=hold,
            pause_reason=state.pause_reason,
            promoted_by_person=state.promoted_by_person,
            aborted=state.aborted,
            metrics=[m.as_data() for m in state.metrics],
            drift_corrections=state.drift_corrections,
            drift=state.last_drift,
        )


def _time_left(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return f"{seconds // 60} min {seconds % 60:02d} s"


def section(strategy: str, detail: Mapping[str, Any]) -> dict[str, Any] | None:
    """The canary section's data for a deployment with this strategy and detail, or None
    when it is no canary (or has not reported yet)."""
    state = live.stored(detail) if strategy == "canary" else None
    return asdict(CanaryView.of(state)) if state is not None else None
