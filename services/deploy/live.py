"""A progressive deployment's live state: what the card shows and the buttons act on.

Any backend that moves traffic in steps (the Kubernetes canary, an Argo Rollout) reports a
`CanaryState` through its `DeployContext`; the engine keeps it in the deployment's row
(``detail["canary"]``), the card presents it and the controls (Promote, Pause, Resume,
Abort) read it. The stored form keeps the keys rows written before this module had
(`as_data` / `from_data`), so a deployment in flight across an upgrade resumes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.deploy.model import Deployment, State

# The deployment states in which a progressive deployment walks its stages.
WALKING = frozenset({State.APPROVED, State.VALIDATING, State.DEPLOYING})


class Phase(StrEnum):
    STARTING = "starting"  # nothing moved yet
    STAGE = "stage"  # walking the stages: the buttons are live
    PROMOTING = "promoting"  # the stable side is getting the new version
    FINISHING = "finishing"  # traffic returns to stable, the canary side shrinks
    DONE = "done"
    ABORTED = "aborted"

    @property
    def live(self) -> bool:
        """Walking stages: Promote, Pause, Resume and Abort are answered."""
        return self in (Phase.STARTING, Phase.STAGE)

    @property
    def resumable(self) -> bool:
        """A restarted bot picks the walk up where it was (not after it ended)."""
        return self not in (Phase.DONE, Phase.ABORTED)


@dataclass(frozen=True)
class MetricRow:
    """One line of the analysis table on the card."""

    name: str
    value: str
    condition: str
    outcome: str  # pass, fail, inconclusive, waiting, pending
    reason: str = ""

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> MetricRow:
        return cls(
            name=str(data.get("name", "")),
            value=str(data.get("value", "")),
            condition=str(data.get("condition", "")),
            outcome=str(data.get("outcome", "waiting")),
            reason=str(data.get("reason") or ""),
        )

    def as_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CanaryState:
    """Where a progressive deployment is; immutable, changed with `dataclasses.replace`."""

    phase: Phase
    stages: tuple[int, ...]
    canary_version: str
    stage: int = 0  # index into stages
    weight: int = 0  # percent of traffic on the new version now
    canary_image: str | None = None
    stable_version: str | None = None
    stable_image: str | None = None
    # What carries each side, for the card: Deployments, a Rollout's ReplicaSets...
    canary_deployment: str | None = None
    stable_deployment: str | None = None
    # What splits the traffic (a VirtualService, the Rollout itself).
    virtual_service: str | None = None
    started_at: str | None = None
    stage_started_at: str | None = None
    stage_ends_at: str | None = None
    time_left_seconds: int | None = None
    metrics: tuple[MetricRow, ...] = ()
    analysis: str | None = None  # the analysis' last reason
    drift_corrections: int = 0
    last_drift: str | None = None
    aborted: str | None = None  # why, once aborted
    promoted_by_person: bool = False
    # The people's controls as they stood at the last report (overlaid by the engine).
    paused: bool = False
    waiting: bool = False
    pause_reason: str | None = None
    promote_requested: bool = False
    # Backend-specific facts kept with the state (an Argo Rollout's revision, say).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def changed(self, **changes: Any) -> CanaryState:
        return dataclasses.replace(self, **changes)

    @property
    def at(self) -> str:
        """Where it is, in the words the timeline uses: "25% (stage 2/5)"."""
        return f"{self.weight}% (stage {self.stage + 1}/{len(self.stages)})"

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("phase", "stages", "metrics", "extra")
        }
        data["phase"] = self.phase.value
        data["stages"] = list(self.stages)
        data["metrics"] = [dataclasses.asdict(m) for m in self.metrics]
        data.update(self.extra)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CanaryState:
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        values["phase"] = Phase(str(data.get("phase", Phase.STARTING.value)))
        values["stages"] = tuple(int(s) for s in data.get("stages") or ())
        values["canary_version"] = str(data.get("canary_version") or "")
        values["stage"] = int(data.get("stage") or 0)
        values["weight"] = int(data.get("weight") or 0)
        values["drift_corrections"] = int(data.get("drift_corrections") or 0)
        values["metrics"] = tuple(
            MetricRow.from_data(m) for m in data.get("metrics") or () if isinstance(m, Mapping)
        )
        values["extra"] = {k: v for k, v in data.items() if k not in known}
        return cls(**values)


def stored(detail: Mapping[str, Any]) -> CanaryState | None:
    """The live state kept in a deployment's detail, or None (not progressive, or not yet)."""
    found = detail.get("canary")
    return CanaryState.from_data(found) if isinstance(found, Mapping) else None


def is_live(deployment: Deployment) -> bool:
    """Walking stages now: Promote, Pause, Resume and Abort are answered."""
    state = stored(deployment.detail)
    return state is not None and deployment.state in WALKING and state.phase.live
