"""What the walk decided and did, as typed records: how each stage ended, each decision of
the analysis, each change of the traffic. The timeline entries (kind, text, data) are built
from them, so what the war room reads and what the timeline keeps say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from services.deploy.live import MetricRow, Phase


class StageOutcome(StrEnum):
    PASSED = "passed"  # the pause ran out with a clean analysis (or none): next stage
    PROMOTED = "promoted"  # a person pressed Promote: the remaining stages are skipped


@dataclass(frozen=True)
class StageResult:
    index: int  # into the stages
    weight: int
    outcome: StageOutcome


@dataclass(frozen=True)
class TimelineRecord:
    """A record that goes on the incident's timeline as one event."""

    kind: ClassVar[str]
    audit: ClassVar[bool] = False  # also an audit row: the bot's own decisions that matter

    @property
    def text(self) -> str:
        raise NotImplementedError

    def data(self) -> dict[str, Any]:
        raise NotImplementedError


def _rows(metrics: tuple[MetricRow, ...]) -> list[dict[str, Any]]:
    return [m.as_data() for m in metrics]


@dataclass(frozen=True)
class Resumed(TimelineRecord):
    """A restarted walk picked up where the recorded state left it."""

    kind: ClassVar[str] = "canary_resumed"
    phase: Phase
    at: str  # "50% (stage 3/5)"
    found: str  # the route's split as read: "stable 80 / canary 20"
    where: str  # "VirtualService prod/payments"
    wanted: int | None = None  # the recorded stage's weight, when walking stages
    drifted: bool = False  # the route differs from it

    @property
    def text(self) -> str:
        if self.phase is Phase.STAGE and self.wanted is not None:
            correction = (
                f", correcting it to {100 - self.wanted}/{self.wanted}."
                if self.drifted
                else ", as recorded."
            )
            return (
                f"Canary resumed at {self.at}: found {self.found} in {self.where}"
                + correction
                + " The stage's pause and analysis start over."
            )
        return f"Canary resumed while {self.phase.value}: found {self.found} in {self.where}; finishing."

    def data(self) -> dict[str, Any]:
        return {"phase": self.phase.value, "found": self.found}


@dataclass(frozen=True)
class WeightSet(TimelineRecord):
    """The walk moved the traffic to a stage's weight."""

    kind: ClassVar[str] = "canary_weight"
    weight: int
    why: str  # "stage 2/5", "promoted"
    was: tuple[int, ...]  # every destination's weight before
    was_split: str

    @property
    def text(self) -> str:
        return f"canary at {self.weight}% ({self.why}), was {self.was_split}"

    def data(self) -> dict[str, Any]:
        return {"weight": self.weight, "was": list(self.was)}


@dataclass(frozen=True)
class DriftCorrected(TimelineRecord):
    """Someone (or a GitOps sync) changed the weights; the walk set them back."""

    kind: ClassVar[str] = "canary_drift"
    at: str
    where: str
    found: tuple[int, ...]
    found_split: str
    weight: int

    @property
    def text(self) -> str:
        return (
            f"{self.where} was changed behind the bot's back at {self.at}: found"
            f" {self.found_split}, set it back to stable {100 - self.weight} / canary"
            f" {self.weight}."
        )

    @property
    def summary(self) -> str:
        """For the card: the last correction."""
        return f"found {self.found_split}, set {100 - self.weight}/{self.weight}"

    def data(self) -> dict[str, Any]:
        return {"found": list(self.found), "weight": self.weight}


@dataclass(frozen=True)
class Inconclusive(TimelineRecord):
    """The analysis could not judge (no data, NaN, too little traffic): a person decides."""

    kind: ClassVar[str] = "canary_inconclusive"
    at: str
    reason: str
    metrics: tuple[MetricRow, ...]

    @property
    def text(self) -> str:
        return (
            f"Canary analysis inconclusive at {self.at}: {self.reason}. Holding the weight:"
            " Resume (the stage's analysis starts over), Promote or Abort on the card."
        )

    def data(self) -> dict[str, Any]:
        return {"metrics": _rows(self.metrics)}


@dataclass(frozen=True)
class FailedMetric:
    """One query that failed the analysis, with what it measured."""

    name: str
    value: str  # formatted
    condition: str
    failures: int
    query: str  # the PromQL as sent

    @property
    def text(self) -> str:
        return (
            f"{self.name} = {self.value} (fails when {self.condition}; {self.failures} failed"
            " sample(s))"
        )


@dataclass(frozen=True)
class AnalysisFailed(TimelineRecord):
    """More failed samples than the failure limit: the walk aborts."""

    kind: ClassVar[str] = "canary_analysis_failed"
    audit: ClassVar[bool] = True
    at: str
    failing: tuple[FailedMetric, ...]
    failures: int
    failure_limit: int
    metrics: tuple[MetricRow, ...]

    @property
    def text(self) -> str:
        return (
            f"Canary analysis failed at {self.at}: "
            + "; ".join(m.text for m in self.failing)
            + f" — {self.failures} failed sample(s) > failure limit {self.failure_limit}."
        )

    @property
    def queries(self) -> list[str]:
        return [f"{m.name}: `{m.query}`" for m in self.failing]

    def announcement(self, done: list[str]) -> str:
        """For the war room: the failure, the queries to look at, what was undone."""
        queries = self.queries
        return (
            f":x: {self.text}\nQuer{'y' if len(queries) == 1 else 'ies'}: "
            + "; ".join(queries)
            + f"\n{'; '.join(done) or 'Traffic was already on stable'}."
        )

    def data(self) -> dict[str, Any]:
        return {"metrics": _rows(self.metrics), "queries": self.queries}


@dataclass(frozen=True)
class Promoted(TimelineRecord):
    """Stable runs the new version: every stage passed, or a person promoted it."""

    kind: ClassVar[str] = "canary_promoted"
    image: str
    by_person: bool
    revision: int

    @property
    def how(self) -> str:
        return "promoted by a person" if self.by_person else "every stage passed"

    @property
    def text(self) -> str:
        return f"{self.image} promoted ({self.how})"

    def data(self) -> dict[str, Any]:
        return {"revision": self.revision}
