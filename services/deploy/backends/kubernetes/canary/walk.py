"""Progressive canary on Istio: a canary Deployment, weights in a VirtualService, metric analysis.

deploy: the canary Deployment gets the new image (and `canary_replicas`), its rollout is
awaited, then the stages are walked (10, 25, 50, 75, 100 % by default). At every stage the
route's weights are set, and through the stage's pause the loop polls: the control flags
(Promote, Pause/Resume, Abort), the VirtualService (drift is corrected: someone or GitOps
changed the weights), and - every `analysis.interval_seconds` - the metric analysis.

* a failed analysis (more failed samples than `failure_limit`) aborts: all traffic back to
  stable in ONE write, the canary scaled to 0, the war room told which query failed with
  its values; the engine then fails the deployment and verifies stable.
* an inconclusive analysis (no data, NaN, too little traffic) never passes: the loop holds
  the weight and waits for a person (Resume starts the stage's analysis over; Promote; Abort).
* Promote skips the remaining stages and their analysis (a person's decision).
* at 100 % (after a clean analysis, or Promote) the stable Deployment gets the new image,
  its rollout is awaited, traffic returns to stable (100/0) and the canary is scaled to 0.

rollback (the fast path: no analysis): traffic to stable in one write, canary to 0, and if
the stable Deployment was already changed, `kubectl rollout undo` semantics on it.

Why weight writes are JSON patches (application/json-patch+json) and not merge patches:
a merge patch (RFC 7386) replaces arrays whole, so changing one route's weights means
sending back the entire ``spec.http`` list as the bot read it - silently undoing any
concurrent edit of any route (a person, a GitOps sync). A JSON patch touches only the
weights of the one route, and its ``test`` operations (the route's name, every
destination as read) make the API server refuse the whole patch when the route was
rewritten in between: the bot re-reads and decides again instead of clobbering it.
(Custom objects take no strategic merge patch: the API server answers 415.)
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from typing import Any

from services.clock import Clock, isoformat
from services.deploy.analysis.run import (
    Analysis,
    AnalysisConfigError,
    AnalysisSummary,
    Querier,
    QueryContext,
    build_querier,
)
from services.deploy.backend import (
    WAITING_FOR_DECISION,
    AbortedError,
    Controls,
    DeployContext,
    Progress,
    Running,
    ShouldAbort,
)
from services.deploy.backends.kubernetes.rolling import (
    Connect,
    RollingBackend,
    deployment_problems,
    image_of,
    image_problems,
    refuse_paused,
    running,
    split_image,
    wait_for_rollout,
)
from services.deploy.backends.kubernetes.settings import (
    CanaryDestination,
    CanarySettings,
    KubernetesTarget,
)
from services.deploy.live import CanaryState
from services.errors import DeployError
from services.kube.client import (
    KubeClient,
    KubeError,
    KubeNotFoundError,
    Obj,
    revision_of,
)

WRITE_ATTEMPTS = 3  # a weight patch whose `test` failed is re-read and re-planned this often


def canary_deployment(target: KubernetesTarget) -> str:
    assert target.canary is not None
    return target.canary.canary_deployment or f"{target.deployment}-canary"


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


# --------------------------------------------------------------------------- the route


class WeightError(DeployError):
    """Weights that must never be written (out of range, not adding up to 100)."""


@dataclasses.dataclass(frozen=True)
class Route:
    """The weighted http route of the VirtualService, as read."""

    index: int  # in spec.http
    name: str | None
    entries: tuple[Obj, ...]  # spec.http[index].route
    stable: int  # index of the stable destination in `entries`
    canary: int

    def weight(self, position: int) -> int:
        value = self.entries[position].get("weight")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def weights(self) -> tuple[int, ...]:
        return tuple(self.weight(i) for i in range(len(self.entries)))

    @property
    def canary_weight(self) -> int:
        return self.weight(self.canary)

    def split(self, weights: tuple[int, ...] | None = None) -> str:
        weights = weights if weights is not None else self.weights
        text = f"stable {weights[self.stable]} / canary {weights[self.canary]}"
        others = [w for i, w in enumerate(weights) if i not in (self.stable, self.canary)]
        return text + (f" / others {sum(others)}" if others else "")


def _matches(entry: Any, want: CanaryDestination) -> bool:
    destination = (entry.get("destination") or {}) if isinstance(entry, dict) else {}
    return bool(destination.get("host") == want.host and destination.get("subset") == want.subset)


def _describe(want: CanaryDestination) -> str:
    return want.host + (f" (subset {want.subset})" if want.subset else "")


def find_route(vs: Obj, settings: CanarySettings) -> Route:
    meta = vs.get("metadata") or {}
    label = f"VirtualService {meta.get('namespace')}/{meta.get('name')}"
    http = (vs.get("spec") or {}).get("http")
    if not isinstance(http, list) or not http:
        raise DeployError(f"{label} has no http routes to weight.", changed=False)
    if isinstance(settings.route, int):
        if settings.route >= len(http):
            raise DeployError(
                f"{label} has {len(http)} http route(s); canary.route {settings.route} is not one.",
                hint="Set kubernetes.canary.route to the route's name or index.",
                changed=False,
            )
        index = settings.route
    else:
        named = [
            i for i, r in enumerate(http) if isinstance(r, dict) and r.get("name") == settings.route
        ]
        if not named:
            names = ", ".join(str(r.get("name")) for r in http if isinstance(r, dict)) or "none"
            raise DeployError(
                f"{label} has no http route named {settings.route!r} (it has: {names}).",
                hint="Set kubernetes.canary.route to the route's name or index.",
                changed=False,
            )
        index = named[0]
    route = http[index] if isinstance(http[index], dict) else {}
    entries = route.get("route")
    entries = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    stable = [i for i, e in enumerate(entries) if _matches(e, settings.stable)]
    canary = [i for i, e in enumerate(entries) if _matches(e, settings.canary)]
    if len(stable) != 1 or len(canary) != 1:
        raise DeployError(
            f"Route {index} of {label} must list the stable destination {_describe(settings.stable)}"
            f" and the canary destination {_describe(settings.canary)} once each; it has "
            f"{len(stable)} and {len(canary)}.",
            hint="Add both destinations to the route (the canary with weight 0), or fix"
            " kubernetes.canary.stable / canary in the config.",
            changed=False,
        )
    name = route.get("name")
    return Route(
        index, name if isinstance(name, str) else None, tuple(entries), stable[0], canary[0]
    )


def check_weights(weights: tuple[int, ...]) -> None:
    """Every weight 0-100, summing to 100: checked before anything is sent."""
    bad = [w for w in weights if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100]
    if bad or sum(weights) != 100:
        raise WeightError(
            f"Refusing to write weights {list(weights)}: each must be a whole number from 0 to"
            " 100 and together they must make 100.",
            changed=False,
        )


def plan_weights(route: Route, canary_weight: int) -> tuple[int, ...]:
    """Every destination's weight when the canary gets `canary_weight` %; others get 0."""
    if (
        isinstance(canary_weight, bool)
        or not isinstance(canary_weight, int)
        or not 0 <= canary_weight <= 100
    ):
        raise WeightError(
            f"Refusing a canary weight of {canary_weight!r}: 0 to 100.", changed=False
        )
    weights = [0] * len(route.entries)
    weights[route.stable] = 100 - canary_weight
    weights[route.canary] = canary_weight
    planned = tuple(weights)
    check_weights(planned)
    return planned


def weight_patch(route: Route, weights: tuple[int, ...]) -> list[Obj]:
    """The JSON patch: `test` the route's name and each destination as read, then set weights."""
    check_weights(weights)
    if len(weights) != len(route.entries):
        raise WeightError("One weight per destination of the route is needed.", changed=False)
    base = f"/spec/http/{route.index}"
    ops: list[Obj] = []
    if route.name is not None:
        ops.append({"op": "test", "path": f"{base}/name", "value": route.name})
    for position, entry in enumerate(route.entries):
        ops.append(
            {
                "op": "test",
                "path": f"{base}/route/{position}/destination",
                "value": entry.get("destination"),
            }
        )
    for position, (entry, weight) in enumerate(zip(route.entries, weights, strict=True)):
        ops.append(
            {
                # "replace" also asserts the member is still there; "add" sets a missing one.
                "op": "replace" if "weight" in entry else "add",
                "path": f"{base}/route/{position}/weight",
                "value": weight,
            }
        )
    return ops


# --------------------------------------------------------------------------- the backend


class CanaryBackend:
    """`kind` as in RollingBackend: undoing a *deploy* goes back to what ran `before` it; a
    requested *rollback* moves traffic to stable and rolls the stable Deployment back."""

    def __init__(
        self,
        target: KubernetesTarget,
        *,
        clock: Clock,
        kind: str = "deploy",
        connect: Connect = KubeClient.connect,
        querier: Querier | None = None,
        hooks: DeployContext | None = None,
    ) -> None:
        if target.canary is None:
            raise DeployError(
                "Strategy canary needs kubernetes.canary in the config.", changed=False
            )
        self.target = target
        self.settings: CanarySettings = target.canary
        self.canary_name = canary_deployment(target)
        self.clock = clock
        self.kind = kind
        self.connect = connect
        self.querier = querier
        self.hooks = hooks or DeployContext()

    @property
    def vs_label(self) -> str:
        return f"VirtualService {self.target.namespace}/{self.settings.virtual_service}"

    def read_route(self, kube: KubeClient) -> Route:
        vs = kube.get_virtual_service(
            self.settings.virtual_service,
            group=self.settings.virtual_service_group,
            version=self.settings.virtual_service_version,
        )
        return find_route(vs, self.settings)

    def write_weights(
        self, kube: KubeClient, canary_weight: int, *, route: Route | None = None
    ) -> tuple[Route, bool]:
        """Make the route send `canary_weight` % to the canary; (route as found, written?).

        Weights are validated before the write; a write refused because the route changed
        since it was read (a failed `test`, 409) is re-read and re-planned."""
        found = route or self.read_route(kube)
        current = found
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            planned = plan_weights(current, canary_weight)
            if current.weights == planned:
                return found, False
            try:
                kube.patch_virtual_service(
                    self.settings.virtual_service,
                    weight_patch(current, planned),
                    group=self.settings.virtual_service_group,
                    version=self.settings.virtual_service_version,
                )
                return found, True
            except KubeError as exc:
                if exc.status not in (409, 422) or attempt == WRITE_ATTEMPTS:
                    raise
                current = self.read_route(kube)  # rewritten meanwhile: decide again
        raise AssertionError("unreachable")

    # -- reading -------------------------------------------------------------

    def current(self) -> Running:
        with self.connect(self.target) as kube:
            stable = kube.get_deployment(self.target.deployment)
            base = running(stable, self.target)
            weight: int | None
            try:
                weight = self.read_route(kube).canary_weight
            except DeployError:
                weight = None
            try:
                canary = kube.get_deployment(self.canary_name)
            except KubeNotFoundError:
                canary = None
        canary_image = image_of(canary, self.target.container) if canary else None
        summary = base.summary
        if weight:
            summary += f"; canary {canary_image or '?'} gets {weight}% of the traffic"
        return dataclasses.replace(
            base,
            summary=summary,
            # Mixed traffic is no single version: a resumed deployment must not skip ahead.
            version=base.version if not weight else None,
            extra={
                **base.extra,
                "canary_weight": weight,
                "canary_image": canary_image,
                "canary_replicas": ((canary or {}).get("spec") or {}).get("replicas"),
            },
        )

    def validate(self, version: str) -> list[str]:
        problems = image_problems(self.target.image, version)
        ns = self.target.namespace
        try:
            with self.connect(self.target) as kube:
                stable_version = None
                for name, role in (
                    (self.target.deployment, "stable"),
                    (self.canary_name, "canary"),
                ):
                    try:
                        obj = kube.get_deployment(name)
                    except KubeNotFoundError:
                        problems.append(
                            f"Deployment {ns}/{name} ({role}) does not exist"
                            + (
                                ": create it with 0 replicas and pods the canary subset selects."
                                if role == "canary"
                                else "."
                            )
                        )
                        continue
                    problems += [f"{role}: {p}" for p in deployment_problems(obj, self.target)]
                    if role == "stable":
                        stable_version = split_image(image_of(obj, self.target.container) or "")[1]
                try:
                    route = self.read_route(kube)
                except KubeNotFoundError:
                    problems.append(f"{self.vs_label} does not exist: check kubernetes.canary.")
                except KubeError as exc:
                    problems.append(exc.message)
                except DeployError as exc:
                    problems.append(exc.message)
                else:
                    others = [
                        w
                        for i, w in enumerate(route.weights)
                        if i not in (route.stable, route.canary)
                    ]
                    if any(others):
                        problems.append(
                            f"Route {route.index} of {self.vs_label} sends traffic to other"
                            f" destinations too ({route.split()}): the canary needs stable and"
                            " canary only."
                        )
                    if route.canary_weight:
                        problems.append(
                            f"{self.vs_label} already sends {route.canary_weight}% to the canary:"
                            " is another canary running? Abort it or set the weight to 0 first."
                        )
        except KubeError as exc:
            problems.append(exc.message)
        if self.settings.analysis is not None:
            try:
                Analysis(
                    self.settings.analysis,
                    querier=self.querier or build_querier(self.settings.analysis),
                    context=self._context(version, stable_version),
                )
            except AnalysisConfigError as exc:
                problems.append(exc.message)
        return problems

    def _context(self, version: str, stable_version: str | None) -> QueryContext:
        return QueryContext(
            service=self.hooks.service or self.target.deployment,
            namespace=self.target.namespace,
            version=version,
            canary=version,
            stable=stable_version,
        )

    # -- deploying -----------------------------------------------------------

    def deploy(
        self, version: str, *, progress: Progress, should_abort: ShouldAbort
    ) -> dict[str, Any]:
        with self.connect(self.target) as kube:
            return _CanaryRun(self, kube, version, progress, should_abort).run()

    # -- rolling back (the fast path: no analysis) ----------------------------

    def to_stable(self, kube: KubeClient, progress: Progress) -> list[str]:
        """All traffic to stable (one write, skipped when already so) and the canary to 0."""
        done: list[str] = []
        route, written = self.write_weights(kube, 0)
        if written:
            progress(f"{self.vs_label}: {route.split()} → all traffic to stable")
            done.append(f"traffic back on stable (was {route.split()})")
        canary = kube.get_deployment(self.canary_name)
        if int((canary.get("spec") or {}).get("replicas", 1)) != 0:
            progress(f"scaling the canary {self.canary_name} to 0")
            try:
                kube.scale(self.canary_name, 0)
            except KubeError as exc:
                exc.changed = exc.changed or bool(done)
                raise
            done.append(f"canary {self.canary_name} scaled to 0")
        return done

    def rollback(
        self,
        *,
        to_version: str | None,
        before: dict[str, Any],
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> dict[str, Any]:
        with self.connect(self.target) as kube:
            done = self.to_stable(kube, progress)
            stable = kube.get_deployment(self.target.deployment)
        now_image = image_of(stable, self.target.container)
        rolling = RollingBackend(
            self.target, clock=self.clock, kind=self.kind, connect=self.connect
        )
        undo_stable = (
            to_version is not None
            or self.kind != "deploy"
            or (before.get("image") not in (None, now_image))
        )
        undone: dict[str, Any] = {}
        if undo_stable:
            try:
                undone = rolling.rollback(
                    to_version=to_version,
                    before=before,
                    progress=progress,
                    should_abort=should_abort,
                )
            except DeployError as exc:
                if exc.changed or not done:
                    raise
                progress(f"stable: {exc.message}")
        else:
            progress(f"stable {self.target.deployment} still runs {now_image}: nothing to undo")
        if undone.get("summary"):
            done.append(f"stable: {undone['summary']}")
        image = undone.get("image") or now_image
        return {
            "summary": "; ".join(done) or f"traffic already on stable ({image}), canary at 0",
            "strategy": "canary",
            "image": image,
            "version": split_image(image or "")[1],
            "changed": bool(done),
            **({"stable": undone} if undone else {}),
        }


class _CanaryRun:
    """One walk through the stages (or what is left of it after a restart)."""

    def __init__(
        self,
        backend: CanaryBackend,
        kube: KubeClient,
        version: str,
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> None:
        self.b = backend
        self.kube = kube
        self.version = version
        self.image = f"{backend.target.image}:{version}"
        self.progress = progress
        self.should_abort = should_abort
        self.settings = backend.settings
        self.hooks = backend.hooks
        self.clock = backend.clock
        self.stages = list(self.settings.stages)
        self.state: dict[str, Any] = {}
        self.analysis: Analysis | None = None

    # -- state -----------------------------------------------------------------

    def report(self, *, material: bool = False, force: bool = False, **changes: Any) -> None:
        self.state.update(changes)
        self.hooks.report(CanaryState.from_data(self.state), material=material, force=force)

    def at(self) -> str:
        stage = int(self.state.get("stage", 0))
        return f"{self.state.get('weight', 0)}% (stage {stage + 1}/{len(self.stages)})"

    def _metrics(self, summary: AnalysisSummary) -> list[dict[str, Any]]:
        rows = [
            {
                "name": m.name,
                "value": fmt(m.value),
                "condition": m.condition,
                "outcome": "pending" if m.pending else (m.outcome or "waiting"),
                "reason": m.reason or "",
            }
            for m in summary.metrics
        ]
        if summary.min_requests is not None:
            rows.insert(
                0,
                {
                    "name": "requests",
                    "value": fmt(summary.requests),
                    "condition": f"< {fmt(summary.min_requests)} is too little traffic",
                    "outcome": "waiting"
                    if summary.samples == 0
                    else (
                        "pass"
                        if summary.requests is not None and summary.requests >= summary.min_requests
                        else "inconclusive"
                    ),
                    "reason": "",
                },
            )
        return rows

    # -- the walk --------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        kube, b = self.kube, self.b
        stable = kube.get_deployment(b.target.deployment)
        canary = kube.get_deployment(b.canary_name)
        recorded = self.hooks.recorded()
        resuming = bool(
            recorded and recorded.phase.resumable and recorded.canary_version == self.version
        )
        if resuming and recorded is not None:
            self.state = recorded.as_data()
            self.hooks.release()  # the person who resumed the deployment decided to go on
        else:
            refuse_paused(stable, doing="run a canary of")
            refuse_paused(canary, doing="run a canary on")
            stable_image = image_of(stable, b.target.container)
            self.state = {
                "phase": "starting",
                "stage": 0,
                "stages": self.stages,
                "weight": 0,
                "canary_version": self.version,
                "canary_image": self.image,
                "canary_deployment": b.canary_name,
                "stable_deployment": b.target.deployment,
                "stable_image": stable_image,
                "stable_version": split_image(stable_image or "")[1],
                "virtual_service": self.settings.virtual_service,
                "drift_corrections": 0,
                "metrics": [],
                "started_at": isoformat(self.clock.now()),
            }
            if self.should_abort():
                raise AbortedError("Abort requested before anything was changed.", changed=False)
        self.context = b._context(self.version, self.state.get("stable_version"))
        try:
            return self._walk(resuming)
        except AbortedError:
            self._to_stable("abort requested")
            raise

    def _walk(self, resuming: bool) -> dict[str, Any]:
        promoted_by_person = False
        if resuming:
            self._announce_resume()
        if self.state["phase"] == "starting":
            self.report(material=True)
            self._start_canary()
            self.report(material=True, phase="stage", stage=0)
        elif self.state["phase"] == "stage":
            self._start_canary()  # idempotent: scaled down or changed meanwhile → back
        while self.state["phase"] == "stage":
            outcome = self._stage(int(self.state["stage"]))
            if outcome == "promote":
                promoted_by_person = True
                break
            if int(self.state["stage"]) + 1 >= len(self.stages):
                break
            self.report(material=True, stage=int(self.state["stage"]) + 1)
        return self._promote(promoted_by_person)

    def _announce_resume(self) -> None:
        phase = self.state.get("phase")
        route = self.b.read_route(self.kube)
        found = route.split()
        if phase == "stage":
            wanted = self.stages[int(self.state["stage"])]
            drifted = route.weights != plan_weights(route, wanted)
            text = (
                f"Canary resumed at {self.at()}: found {found} in {self.b.vs_label}"
                + (f", correcting it to {100 - wanted}/{wanted}." if drifted else ", as recorded.")
                + " The stage's pause and analysis start over."
            )
        else:
            text = f"Canary resumed while {phase}: found {found} in {self.b.vs_label}; finishing."
        self.progress(text)
        self.hooks.announce(text)
        self.hooks.event("canary_resumed", text, {"phase": phase, "found": found})

    def _start_canary(self) -> None:
        kube, b = self.kube, self.b
        canary = kube.get_deployment(b.canary_name)
        wanted = self.settings.canary_replicas
        changed = False
        if image_of(canary, b.target.container) != self.image:
            self.progress(f"canary {b.canary_name}: setting {b.target.container} to {self.image}")
            kube.set_image(b.canary_name, b.target.container, self.image)
            changed = True
        if int((canary.get("spec") or {}).get("replicas", 1)) != wanted:
            self.progress(f"canary {b.canary_name}: scaling to {wanted} replica(s)")
            try:
                kube.scale(b.canary_name, wanted)
            except KubeError as exc:
                exc.changed = exc.changed or changed
                raise
        wait_for_rollout(
            kube,
            b.canary_name,
            target=b.target,
            clock=self.clock,
            progress=self.progress,
            should_abort=self.should_abort,
            image=self.image,
        )

    def _new_analysis(self, seconds: float) -> Analysis | None:
        settings = self.settings.analysis
        if settings is None:
            return None
        count = max(1, int(seconds // settings.interval_seconds + 1e-9))
        try:
            return Analysis(
                settings,
                querier=self.b.querier or build_querier(settings),
                context=self.context,
                count=count,
            )
        except AnalysisConfigError as exc:
            self._to_stable("analysis misconfigured")
            raise DeployError(exc.message, hint=exc.hint) from exc

    def _stage(self, index: int) -> str:
        """Hold stage `index` through its pause; "next" or "promote"."""
        weight = self.stages[index]
        interval = self.settings.analysis.interval_seconds if self.settings.analysis else math.inf
        self._set_weight(weight, why=f"stage {index + 1}/{len(self.stages)}")
        started = self.clock.now()
        ends = started + timedelta(seconds=self.settings.stage_seconds)
        next_sample = started + timedelta(seconds=interval) if math.isfinite(interval) else None
        self.analysis = self._new_analysis(self.settings.stage_seconds)
        held_since: datetime | None = None
        held: Controls | None = None
        self.report(
            material=True,
            weight=weight,
            stage_started_at=isoformat(started),
            stage_ends_at=isoformat(ends),
            time_left_seconds=int(self.settings.stage_seconds),
            metrics=self._metrics(self.analysis.summary()) if self.analysis else [],
        )
        while True:
            if self.should_abort():
                raise AbortedError(f"Abort requested at {self.at()}.")
            controls = self.hooks.controls()
            if controls.promote:
                self.progress(f"promotion requested at {self.at()}: skipping to 100%")
                return "promote"
            self._correct_drift(weight)
            now = self.clock.now()
            if controls.holding:
                if held_since is None:
                    held_since = now
                    self.report(material=True)
                held = controls
                self.report()  # lets a throttled card edit through
                self.clock.sleep(self.b.target.poll_interval_seconds)
                continue
            if held_since is not None:
                if (
                    held is not None and held.paused == WAITING_FOR_DECISION
                ):  # a person decided after "inconclusive"
                    started, ends = now, now + timedelta(seconds=self.settings.stage_seconds)
                    if next_sample is not None:
                        next_sample = now + timedelta(seconds=interval)
                    self.analysis = self._new_analysis(self.settings.stage_seconds)
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
                self.report(material=True, metrics=self._metrics(summary), analysis=summary.reason)
                if verdict == "failed":
                    self._fail(summary)
                if verdict == "inconclusive":
                    self._wait_for_decision(summary)
                    continue
            if now >= ends and verdict == "passed":
                self.progress(f"stage {index + 1}/{len(self.stages)} ({weight}%) passed")
                self.report(material=True, time_left_seconds=0)
                return "next"
            self.report(time_left_seconds=max(0, math.ceil((ends - now).total_seconds())))
            waits = [self.b.target.poll_interval_seconds]
            waits += [
                (t - now).total_seconds() for t in (next_sample, ends) if t is not None and t > now
            ]
            self.clock.sleep(max(min(waits), 0.01))

    def _wait_for_decision(self, summary: AnalysisSummary) -> None:
        reason = summary.reason
        text = (
            f"Canary analysis inconclusive at {self.at()}: {reason}. Holding the weight:"
            " Resume (the stage's analysis starts over), Promote or Abort on the card."
        )
        self.hooks.hold(f"inconclusive: {reason}")
        self.progress(text)
        self.hooks.announce(text)
        self.hooks.event("canary_inconclusive", text, {"metrics": self.state.get("metrics")})
        self.report(material=True)

    def _fail(self, summary: AnalysisSummary) -> None:
        assert self.analysis is not None
        failing = [m for m in summary.metrics if m.outcome == "fail"] or [
            m for m in summary.metrics if m.failures
        ]
        parts = [
            f"{m.name} = {fmt(m.value)} (fails when {m.condition}; {m.failures} failed sample(s))"
            for m in failing
        ]
        queries = [f"{m.name}: `{self.analysis.rendered[m.name]}`" for m in failing]
        message = (
            f"Canary analysis failed at {self.at()}: "
            + "; ".join(parts)
            + f" — {summary.failures} failed sample(s) > failure limit {summary.failure_limit}."
        )
        self.progress(message)
        done = self._to_stable("analysis failed")
        self.hooks.announce(
            f":x: {message}\nQuer{'y' if len(queries) == 1 else 'ies'}: "
            + "; ".join(queries)
            + f"\n{'; '.join(done) or 'Traffic was already on stable'}."
        )
        self.hooks.event(
            "canary_analysis_failed",
            message,
            {"metrics": self.state.get("metrics"), "queries": queries},
            audit=True,
        )
        raise DeployError(
            message + " Traffic is back on stable and the canary is scaled to 0.",
            hint="See the metrics on the card; fix the release and deploy again.",
        )

    def _set_weight(self, weight: int, *, why: str) -> None:
        route, written = self.b.write_weights(self.kube, weight)
        if written:
            self.progress(f"{self.b.vs_label}: {route.split()} → canary {weight}% ({why})")
            self.hooks.event(
                "canary_weight",
                f"canary at {weight}% ({why}), was {route.split()}",
                {"weight": weight, "was": list(route.weights)},
            )
        self.report(material=True, weight=weight)

    def _correct_drift(self, weight: int) -> None:
        route = self.b.read_route(self.kube)
        if route.weights == plan_weights(route, weight):
            return
        found = route.split()
        _, written = self.b.write_weights(self.kube, weight, route=route)
        if not written:
            return
        text = (
            f"{self.b.vs_label} was changed behind the bot's back at {self.at()}: found {found},"
            f" set it back to stable {100 - weight} / canary {weight}."
        )
        self.progress(text)
        self.hooks.announce(text)
        self.hooks.event("canary_drift", text, {"found": list(route.weights), "weight": weight})
        self.report(
            material=True,
            drift_corrections=int(self.state.get("drift_corrections", 0)) + 1,
            last_drift=f"found {found}, set {100 - weight}/{weight}",
        )

    def _to_stable(self, why: str) -> list[str]:
        done = self.b.to_stable(self.kube, self.progress)
        self.report(force=True, phase="aborted", weight=0, time_left_seconds=None, aborted=why)
        return done

    def _promote(self, by_person: bool) -> dict[str, Any]:
        kube, b = self.kube, self.b
        if self.state["phase"] == "stage":
            if by_person:
                self._set_weight(100, why="promoted")
            self.report(
                material=True,
                phase="promoting",
                promoted_by_person=by_person,
                time_left_seconds=None,
            )
        stable_name = b.target.deployment
        if self.state["phase"] == "promoting":
            stable = kube.get_deployment(stable_name)
            if image_of(stable, b.target.container) != self.image:
                self.progress(f"stable {stable_name}: setting {b.target.container} to {self.image}")
                kube.set_image(stable_name, b.target.container, self.image)
            wait_for_rollout(
                kube,
                stable_name,
                target=b.target,
                clock=self.clock,
                progress=self.progress,
                should_abort=self.should_abort,
                image=self.image,
            )
            self.report(material=True, phase="finishing")
        done = kube.get_deployment(stable_name)
        route, written = b.write_weights(kube, 0)
        if written:
            self.progress(f"{b.vs_label}: {route.split()} → all traffic to stable ({self.image})")
        canary = kube.get_deployment(b.canary_name)
        if int((canary.get("spec") or {}).get("replicas", 1)) != 0:
            self.progress(f"canary {b.canary_name}: scaling to 0")
            kube.scale(b.canary_name, 0)
        revision = revision_of(done)
        self.report(force=True, phase="done", weight=0, time_left_seconds=None)
        how = (
            "promoted by a person" if self.state.get("promoted_by_person") else "every stage passed"
        )
        self.hooks.event(
            "canary_promoted", f"{self.image} promoted ({how})", {"revision": revision}
        )
        return {
            "summary": f"{self.image} promoted through {'→'.join(str(s) for s in self.stages)}%"
            f" ({how}); stable {stable_name} updated (revision {revision}), canary scaled to 0",
            "strategy": "canary",
            "namespace": b.target.namespace,
            "deployment": stable_name,
            "canary_deployment": b.canary_name,
            "image": self.image,
            "version": self.version,
            "revision": str(revision),
            "previous_image": self.state.get("stable_image"),
            "promoted_by_person": bool(self.state.get("promoted_by_person")),
        }
