"""The canary's objects in the cluster: the VirtualService's weighted route and the two
Deployments (stable and canary). Reads and writes them through services.kube; what to
write is decided by `route` (weights) and `walk` (when).
"""

from __future__ import annotations

from services.clock import Clock
from services.deploy.backend import Progress, ShouldAbort
from services.deploy.backends.kubernetes.canary.route import (
    Route,
    find_route,
    plan_weights,
    weight_patch,
)
from services.deploy.backends.kubernetes.rollout import wait_for_rollout
from services.deploy.backends.kubernetes.settings import CanarySettings, KubernetesTarget
from services.kube.client import KubeClient, KubeError, Obj
from services.kube.images import image_of

WRITE_ATTEMPTS = 3  # a weight patch whose `test` failed is re-read and re-planned this often


def canary_deployment(target: KubernetesTarget) -> str:
    assert target.canary is not None
    return target.canary.canary_deployment or f"{target.deployment}-canary"


def virtual_service_label(target: KubernetesTarget) -> str:
    assert target.canary is not None
    return f"VirtualService {target.namespace}/{target.canary.virtual_service}"


def replicas_of(deployment: Obj) -> int:
    """spec.replicas (the API server's default, 1, when unset)."""
    return int((deployment.get("spec") or {}).get("replicas", 1))


class CanaryCluster:
    """One connection's view of a canary target."""

    def __init__(self, kube: KubeClient, target: KubernetesTarget) -> None:
        assert target.canary is not None
        self.kube = kube
        self.target = target
        self.settings: CanarySettings = target.canary
        self.canary_name = canary_deployment(target)
        self.stable_name = target.deployment
        self.vs_label = virtual_service_label(target)

    # -- the route -----------------------------------------------------------

    def read_route(self) -> Route:
        vs = self.kube.get_virtual_service(
            self.settings.virtual_service,
            group=self.settings.virtual_service_group,
            version=self.settings.virtual_service_version,
        )
        return find_route(vs, self.settings)

    def write_weights(
        self, canary_weight: int, *, route: Route | None = None
    ) -> tuple[Route, bool]:
        """Make the route send `canary_weight` % to the canary; (route as found, written?).

        Weights are validated before the write; a write refused because the route changed
        since it was read (a failed `test`, 409) is re-read and re-planned."""
        found = route or self.read_route()
        current = found
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            planned = plan_weights(current, canary_weight)
            if current.weights == planned:
                return found, False
            try:
                self.kube.patch_virtual_service(
                    self.settings.virtual_service,
                    weight_patch(current, planned),
                    group=self.settings.virtual_service_group,
                    version=self.settings.virtual_service_version,
                )
                return found, True
            except KubeError as exc:
                if exc.status not in (409, 422) or attempt == WRITE_ATTEMPTS:
                    raise
                current = self.read_route()  # rewritten meanwhile: decide again
        raise AssertionError("unreachable")

    # -- the Deployments -------------------------------------------------------

    def stable(self) -> Obj:
        return self.kube.get_deployment(self.stable_name)

    def canary(self) -> Obj:
        return self.kube.get_deployment(self.canary_name)

    def start_canary(
        self, image: str, *, clock: Clock, progress: Progress, should_abort: ShouldAbort
    ) -> None:
        """The canary Deployment runs `image` on `canary_replicas`, rolled out (idempotent:
        a canary scaled down or changed meanwhile is set back)."""
        kube, container = self.kube, self.target.container
        canary = self.canary()
        wanted = self.settings.canary_replicas
        changed = False
        if image_of(canary, container) != image:
            progress(f"canary {self.canary_name}: setting {container} to {image}")
            kube.set_image(self.canary_name, container, image)
            changed = True
        if replicas_of(canary) != wanted:
            progress(f"canary {self.canary_name}: scaling to {wanted} replica(s)")
            try:
                kube.scale(self.canary_name, wanted)
            except KubeError as exc:
                exc.changed = exc.changed or changed
                raise
        self.wait(
            self.canary_name, image, clock=clock, progress=progress, should_abort=should_abort
        )

    def update_stable(
        self, image: str, *, clock: Clock, progress: Progress, should_abort: ShouldAbort
    ) -> None:
        """The stable Deployment runs `image`, rolled out."""
        container = self.target.container
        if image_of(self.stable(), container) != image:
            progress(f"stable {self.stable_name}: setting {container} to {image}")
            self.kube.set_image(self.stable_name, container, image)
        self.wait(
            self.stable_name, image, clock=clock, progress=progress, should_abort=should_abort
        )

    def wait(
        self,
        name: str,
        image: str,
        *,
        clock: Clock,
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> Obj:
        return wait_for_rollout(
            self.kube,
            name,
            target=self.target,
            clock=clock,
            progress=progress,
            should_abort=should_abort,
            image=image,
        )

    def to_stable(self, progress: Progress) -> list[str]:
        """All traffic to stable (one write, skipped when already so) and the canary to 0;
        what was done, for people."""
        done: list[str] = []
        route, written = self.write_weights(0)
        if written:
            progress(f"{self.vs_label}: {route.split()} → all traffic to stable")
            done.append(f"traffic back on stable (was {route.split()})")
        if replicas_of(self.canary()) != 0:
            progress(f"scaling the canary {self.canary_name} to 0")
            try:
                self.kube.scale(self.canary_name, 0)
            except KubeError as exc:
                exc.changed = exc.changed or bool(done)
                raise
            done.append(f"canary {self.canary_name} scaled to 0")
        return done
