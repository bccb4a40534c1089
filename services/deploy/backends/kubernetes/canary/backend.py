"""Progressive canary on Istio: a canary Deployment, weights in a VirtualService, metric analysis.

deploy: the canary Deployment gets the new image (and `canary_replicas`), its rollout is
awaited, then the stages are walked (10, 25, 50, 75, 100 % by default): see `walk`.

rollback (the fast path: no analysis): traffic to stable in one write, canary to 0, and if
the stable Deployment was already changed, `kubectl rollout undo` semantics on it.

The package: `route` is the pure weight maths over the VirtualService, `cluster` reads and
writes the objects, `walk` is the loop, `metrics` the analysis glue, `records` what the walk
decided (the timeline is built from them). The live state is a `CanaryState`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from services.clock import Clock
from services.deploy.analysis.run import AnalysisConfigError, Querier, QueryContext
from services.deploy.backend import DeployContext, Progress, Running, ShouldAbort
from services.deploy.backends.kubernetes.canary.cluster import (
    CanaryCluster,
    canary_deployment,
    virtual_service_label,
)
from services.deploy.backends.kubernetes.canary.metrics import new_analysis
from services.deploy.backends.kubernetes.canary.route import readiness_problems
from services.deploy.backends.kubernetes.canary.walk import CanaryWalk
from services.deploy.backends.kubernetes.rolling import Connect, RollingBackend
from services.deploy.backends.kubernetes.rollout import consistency, deployment_problems, running
from services.deploy.backends.kubernetes.settings import CanarySettings, KubernetesTarget
from services.errors import DeployError
from services.kube.client import KubeClient, KubeError, KubeNotFoundError
from services.kube.images import image_of, image_problems, split_image


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
        return virtual_service_label(self.target)

    # -- reading -------------------------------------------------------------

    def current(self) -> Running:
        with self.connect(self.target) as kube:
            cluster = CanaryCluster(kube, self.target)
            base = running(cluster.stable(), self.target)
            weight: int | None
            try:
                weight = cluster.read_route().canary_weight
            except DeployError:
                weight = None
            try:
                canary = cluster.canary()
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

    def consistency(self) -> list[str]:
        """The stable Deployment (what serves between deployments) against the config."""
        try:
            with self.connect(self.target) as kube:
                return consistency(kube, self.target, self.target.deployment)
        except KubeError as exc:
            return [exc.message]

    def validate(self, version: str) -> list[str]:
        problems = image_problems(self.target.image, version, setting="kubernetes.image")
        stable_version = None
        try:
            with self.connect(self.target) as kube:
                stable_version = self._deployment_problems(kube, problems)
                try:
                    route = CanaryCluster(kube, self.target).read_route()
                except KubeNotFoundError:
                    problems.append(f"{self.vs_label} does not exist: check kubernetes.canary.")
                except DeployError as exc:  # KubeError included
                    problems.append(exc.message)
                else:
                    problems += readiness_problems(route, self.vs_label)
        except KubeError as exc:
            problems.append(exc.message)
        try:
            new_analysis(
                self.settings,
                querier=self.querier,
                context=self.query_context(version, stable_version),
            )
        except AnalysisConfigError as exc:
            problems.append(exc.message)
        return problems

    def _deployment_problems(self, kube: KubeClient, problems: list[str]) -> str | None:
        """Adds what is wrong with the stable and canary Deployments; the stable version."""
        ns = self.target.namespace
        stable_version = None
        for name, role in ((self.target.deployment, "stable"), (self.canary_name, "canary")):
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
        return stable_version

    def query_context(self, version: str, stable_version: str | None) -> QueryContext:
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
            walk = CanaryWalk(
                CanaryCluster(kube, self.target),
                version=version,
                clock=self.clock,
                hooks=self.hooks,
                querier=self.querier,
                query_context=self.query_context,
                progress=progress,
                should_abort=should_abort,
            )
            return walk.run()

    # -- rolling back (the fast path: no analysis) ----------------------------

    def rollback(
        self,
        *,
        to_version: str | None,
        before: dict[str, Any],
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> dict[str, Any]:
        with self.connect(self.target) as kube:
            cluster = CanaryCluster(kube, self.target)
            done = cluster.to_stable(progress)
            stable = cluster.stable()
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
