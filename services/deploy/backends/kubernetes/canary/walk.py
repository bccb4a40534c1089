"""One walk through the canary's stages (or what is left of it after a restart).

At every stage the route's weights are set, and through the stage's pause the loop polls:
the control flags (Promote, Pause/Resume, Abort), the VirtualService (drift is corrected:
someone or GitOps changed the weights), and - every `analysis.interval_seconds` - the
metric analysis.

* a failed analysis (more failed samples than `failure_limit`) aborts: all traffic back to
  stable in ONE write, the canary scaled to 0, the war room told which query failed with
  its values; the engine then fails the deployment and verifies stable.
* an inconclusive analysis (no data, NaN, too little traffic) never passes: the loop holds
  the weight and waits for a person (Resume starts the stage's analysis over; Promote; Abort).
* Promote skips the remaining stages and their analysis (a person's decision).
* at 100 % (after a clean analysis, or Promote) the stable Deployment gets the new image,
  its rollout is awaited, traffic returns to stable (100/0) and the canary is scaled to 0.

The walk's state is a `CanaryState`, reported through the DeployContext at every change
(the engine keeps it in the deployment's row, so a restarted bot resumes from it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from services.clock import Clock, isoformat
from services.deploy.analysis.run import (
    Analysis,
    AnalysisConfigError,
    AnalysisSummary,
    Querier,
    QueryContext,
)
from services.deploy.backend import (
    WAITING_FOR_DECISION,
    AbortedError,
    Controls,
    DeployContext,
    Progress,
    ShouldAbort,
)
from services.deploy.backends.kubernetes.canary import metrics
from services.deploy.backends.kubernetes.canary.cluster import CanaryCluster, replicas_of
from services.deploy.backends.kubernetes.canary.records import (
    DriftCorrected,
    Promoted,
    Resumed,
    StageOutcome,
    StageResult,
    TimelineRecord,
    WeightSet,
)
from services.deploy.backends.kubernetes.rollout import refuse_paused
from services.deploy.live import CanaryState, Phase
from services.errors import DeployError
from services.kube.client import revision_of
from services.kube.images import image_of, split_image

QueryContextFor = Callable[[str, str | None], QueryContext]  # (version, stable version)


class CanaryWalk:
    def __init__(
        self,
        cluster: CanaryCluster,
        *,
        version: str,
        clock: Clock,
        hooks: DeployContext,
        querier: Querier | None,
        query_context: QueryContextFor,
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> None:
        self.cluster = cluster
        self.settings = cluster.settings
        self.target = cluster.target
        self.version = version
        self.image = f"{cluster.target.image}:{version}"
        self.clock = clock
        self.hooks = hooks
        self.querier = querier
        self.query_context = query_context
        self.progress = progress
        self.should_abort = should_abort
        self.stages = tuple(self.settings.stages)
        self.state: CanaryState  # recorded, or fresh: set by run()
        self.context: QueryContext | None = None
        self.analysis: Analysis | None = None

    # -- state -----------------------------------------------------------------

    def _fresh_state(self, *, stable_image: str | None) -> CanaryState:
        return CanaryState(
            phase=Phase.STARTING,
            stages=self.stages,
            canary_version=self.version,
            canary_image=self.image,
            canary_deployment=self.cluster.canary_name,
            stable_deployment=self.cluster.stable_name,
            stable_image=stable_image,
            stable_version=split_image(stable_image or "")[1],
            virtual_service=self.settings.virtual_service,
            started_at=isoformat(self.clock.now()),
        )

    def report(self, *, material: bool = False, force: bool = False, **changes: Any) -> None:
        """Change the state (`CanaryState.changed`) and report it for the card and the row."""
        if changes:
            self.state = self.state.changed(**changes)
        self.hooks.report(self.state, material=material, force=force)

    def record(self, event: TimelineRecord) -> None:
        self.hooks.event(event.kind, event.text, event.data(), audit=event.audit)

    def at(self) -> str:
        """Where the walk is, as the war room reads it: "25% (stage 2/5)"."""
        return f"{self.state.weight}% (stage {self.state.stage + 1}/{len(self.stages)})"

    # -- the walk --------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        stable = self.cluster.stable()
        canary = self.cluster.canary()
        recorded = self.hooks.recorded()
        if (
            recorded is not None
            and recorded.phase.resumable
            and recorded.canary_version == self.version
        ):
            resuming = True
            self.state = recorded
            self.hooks.release()  # the person who resumed the deployment decided to go on
        else:
            resuming = False
            refuse_paused(stable, doing="run a canary of")
            refuse_paused(canary, doing="run a canary on")
            self.state = self._fresh_state(stable_image=image_of(stable, self.target.container))
            if self.should_abort():
                raise AbortedError("Abort requested before anything was changed.", changed=False)
        self.context = self.query_context(self.version, self.state.stable_version)
        try:
            return self._walk(resuming)
        except AbortedError:
            self._to_stable("abort requested")
            raise

    def _walk(self, resuming: bool) -> dict[str, Any]:
        promoted_by_person = False
        if resuming:
            self._announce_resume()
        if self.state.phase is Phase.STARTING:
            self.report(material=True)
            self._start_canary()
            self.report(material=True, phase=Phase.STAGE, stage=0)
        elif self.state.phase is Phase.STAGE:
            self._start_canary()  # idempotent: scaled down or changed meanwhile → back
        while self.state.phase is Phase.STAGE:
            result = self._stage(self.state.stage)
            if result.outcome is StageOutcome.PROMOTED:
                promoted_by_person = True
                break
            if result.index + 1 >= len(self.stages):
                break
            self.report(material=True, stage=result.index + 1)
        return self._promote(promoted_by_person)

    def _announce_resume(self) -> None:
        route = self.cluster.read_route()
        phase = self.state.phase
        wanted = self.stages[self.state.stage] if phase is Phase.STAGE else None
        resumed = Resumed(
            phase=phase,
            at=self.at(),
            found=route.split(),
            where=self.cluster.vs_label,
            wanted=wanted,
            drifted=wanted is not None and route.drifted(wanted),
        )
        self.progress(resumed.text)
        self.hooks.announce(resumed.text)
        self.record(resumed)

    def _start_canary(self) -> None:
        self.cluster.start_canary(
            self.image, clock=self.clock, progress=self.progress, should_abort=self.should_abort
        )

    def _new_analysis(self, seconds: float) -> Analysis | None:
        assert self.context is not None
        try:
            return metrics.new_analysis(
                self.settings, querier=self.querier, context=self.context, seconds=seconds
            )
        except AnalysisConfigError as exc:
            self._to_stable("analysis misconfigured")
            raise DeployError(exc.message, hint=exc.hint) from exc

    def _stage(self, index: int) -> StageResult:
        """Hold stage `index` through its pause, until it passed or a person promoted."""
        weight = self.stages[index]
        pause = self.settings.stage_seconds
        interval = self.settings.analysis.interval_seconds if self.settings.analysis else math.inf
        self._set_weight(weight, why=f"stage {index + 1}/{len(self.stages)}")
        started = self.clock.now()
        ends = started + timedelta(seconds=pause)
        next_sample = started + timedelta(seconds=interval) if math.isfinite(interval) else None
        self.analysis = self._new_analysis(pause)
        held_since: datetime | None = None
        held: Controls | None = None
        self.report(
            material=True,
            weight=weight,
            stage_started_at=isoformat(started),
            stage_ends_at=isoformat(ends),
            time_left_seconds=int(pause),
            metrics=metrics.metric_rows(self.analysis.summary()) if self.analysis else (),
        )
        while True:
            if self.should_abort():
                raise AbortedError(f"Abort requested at {self.at()}.")
            controls = self.hooks.controls()
            if controls.promote:
                self.progress(f"promotion requested at {self.at()}: skipping to 100%")
                return StageResult(index, weight, StageOutcome.PROMOTED)
            self._correct_drift(weight)
            now = self.clock.now()
            if controls.holding:
                if held_since is None:
                    held_since = now
                    self.report(material=True)
                held = controls
                self.report()  # lets a throttled card edit through
                self.clock.sleep(self.target.poll_interval_seconds)
                continue
            if held_since is not None:
                if held is not None and held.paused == WAITING_FOR_DECISION:
                    # A person decided after "inconclusive": the stage starts over.
                    started, ends = now, now + timedelta(seconds=pause)
                    if next_sample is not None:
                        next_sample = now + timedelta(seconds=interval)
                    self.analysis = self._new_analysis(pause)
                else:  # the stage's clock stood still while paused
                    ends += now - held_since
                    if next_sample is not None:
                        next_sample += now - held_since
                held_since = held = None
                self.report(material=True, stage_ends_at=isoformat(ends))
            verdict = self.analysis.verdict() if self.analysis else "passed"
            if (
                self.analysis is not None
                and verdict == "running"
                and next_sample
                and now >= next_sample
            ):
                self.analysis.sample(now)
                next_sample = max(next_sample + timedelta(seconds=interval), now)
                verdict = self.analysis.verdict()
                summary = self.analysis.summary()
                self.report(
                    material=True, metrics=metrics.metric_rows(summary), analysis=summary.reason
                )
                if verdict == "failed":
                    self._fail(summary, self.analysis)
                if verdict == "inconclusive":
                    self._wait_for_decision(summary)
                    continue
            if now >= ends and verdict == "passed":
                self.progress(f"stage {index + 1}/{len(self.stages)} ({weight}%) passed")
                self.report(material=True, time_left_seconds=0)
                return StageResult(index, weight, StageOutcome.PASSED)
            self.report(time_left_seconds=max(0, math.ceil((ends - now).total_seconds())))
            waits = [self.target.poll_interval_seconds]
            waits += [
                (t - now).total_seconds() for t in (next_sample, ends) if t is not None and t > now
            ]
            self.clock.sleep(max(min(waits), 0.01))

    def _wait_for_decision(self, summary: AnalysisSummary) -> None:
        decision = metrics.inconclusive(summary, at=self.at(), rows=self.state.metrics)
        self.hooks.hold(f"inconclusive: {decision.reason}")
        self.progress(decision.text)
        self.hooks.announce(decision.text)
        self.record(decision)
        self.report(material=True)

    def _fail(self, summary: AnalysisSummary, analysis: Analysis) -> NoReturn:
        decision = metrics.failed(summary, analysis, at=self.at(), rows=self.state.metrics)
        self.progress(decision.text)
        done = self._to_stable("analysis failed")
        self.hooks.announce(decision.announcement(done))
        self.record(decision)
        raise DeployError(
            decision.text + " Traffic is back on stable and the canary is scaled to 0.",
            hint="See the metrics on the card; fix the release and deploy again.",
        )

    def _set_weight(self, weight: int, *, why: str) -> None:
        route, written = self.cluster.write_weights(weight)
        if written:
            self.progress(f"{self.cluster.vs_label}: {route.split()} → canary {weight}% ({why})")
            self.record(
                WeightSet(weight=weight, why=why, was=route.weights, was_split=route.split())
            )
        self.report(material=True, weight=weight)

    def _correct_drift(self, weight: int) -> None:
        route = self.cluster.read_route()
        if not route.drifted(weight):
            return
        _, written = self.cluster.write_weights(weight, route=route)
        if not written:
            return
        corrected = DriftCorrected(
            at=self.at(),
            where=self.cluster.vs_label,
            found=route.weights,
            found_split=route.split(),
            weight=weight,
        )
        self.progress(corrected.text)
        self.hooks.announce(corrected.text)
        self.record(corrected)
        self.report(
            material=True,
            drift_corrections=self.state.drift_corrections + 1,
            last_drift=corrected.summary,
        )

    def _to_stable(self, why: str) -> list[str]:
        done = self.cluster.to_stable(self.progress)
        self.report(force=True, phase=Phase.ABORTED, weight=0, time_left_seconds=None, aborted=why)
        return done

    def _promote(self, by_person: bool) -> dict[str, Any]:
        cluster = self.cluster
        if self.state.phase is Phase.STAGE:
            if by_person:
                self._set_weight(100, why="promoted")
            self.report(
                material=True,
                phase=Phase.PROMOTING,
                promoted_by_person=by_person,
                time_left_seconds=None,
            )
        if self.state.phase is Phase.PROMOTING:
            cluster.update_stable(
                self.image, clock=self.clock, progress=self.progress, should_abort=self.should_abort
            )
            self.report(material=True, phase=Phase.FINISHING)
        done = cluster.stable()
        route, written = cluster.write_weights(0)
        if written:
            self.progress(
                f"{cluster.vs_label}: {route.split()} → all traffic to stable ({self.image})"
            )
        if replicas_of(cluster.canary()) != 0:
            self.progress(f"canary {cluster.canary_name}: scaling to 0")
            cluster.kube.scale(cluster.canary_name, 0)
        revision = revision_of(done)
        self.report(force=True, phase=Phase.DONE, weight=0, time_left_seconds=None)
        promoted = Promoted(
            image=self.image, by_person=self.state.promoted_by_person, revision=revision
        )
        self.record(promoted)
        stages = "→".join(str(s) for s in self.stages)
        return {
            "summary": f"{self.image} promoted through {stages}% ({promoted.how});"
            f" stable {cluster.stable_name} updated (revision {revision}), canary scaled to 0",
            "strategy": "canary",
            "namespace": self.target.namespace,
            "deployment": cluster.stable_name,
            "canary_deployment": cluster.canary_name,
            "image": self.image,
            "version": self.version,
            "revision": str(revision),
            "previous_image": self.state.stable_image,
            "promoted_by_person": self.state.promoted_by_person,
        }
