"""The Kubernetes backend: rolling updates of one Deployment, blue-green behind a Service, or
a progressive canary weighted by an Istio VirtualService.

Only `services.kube` talks to the API; the strategies live in `rolling`, `bluegreen` and
`canary/`. Waiting uses the injected clock, so tests drive a rollout by time.
"""

from __future__ import annotations

from services.clock import Clock
from services.deploy.backend import Backend, DeployContext
from services.deploy.backends.kubernetes.bluegreen import BlueGreenBackend
from services.deploy.backends.kubernetes.canary.backend import CanaryBackend
from services.deploy.backends.kubernetes.rolling import Connect, RollingBackend
from services.deploy.backends.kubernetes.settings import KubernetesTarget
from services.errors import UserFacingError
from services.kube.client import KubeClient


def kubernetes_backend(
    target: KubernetesTarget,
    *,
    strategy: str,
    clock: Clock,
    kind: str = "deploy",
    connect: Connect = KubeClient.connect,
    context: DeployContext | None = None,
) -> Backend:
    """The backend for one deployment.

    `kind` is the deployment's kind ("deploy" or "rollback"): it decides what
    `rollback(to_version=None)` means - undo this deployment (back to what ran before
    it) or roll back one release (`kubectl rollout undo`, the other colour).
    """
    if strategy == "rolling":
        return RollingBackend(target, clock=clock, kind=kind, connect=connect)
    if strategy == "blue-green":
        if target.blue_green is None:
            raise UserFacingError(
                "Strategy blue-green needs kubernetes.blue_green in the config.",
                hint="Add it, or deploy with --strategy=rolling.",
            )
        return BlueGreenBackend(target, clock=clock, kind=kind, connect=connect)
    if strategy == "canary" and target.canary is not None:
        return CanaryBackend(target, clock=clock, kind=kind, connect=connect, hooks=context)
    if strategy == "canary":
        raise UserFacingError(
            "The Kubernetes backend cannot deploy with strategy 'canary'.",
            hint="Configure kubernetes.canary (Deployments, VirtualService, stages) for this"
            " environment, or use strategy rolling or blue-green.",
        )
    raise UserFacingError(
        f"The Kubernetes backend cannot deploy with strategy {strategy!r}.",
        hint="Use strategy rolling, blue-green or canary for this environment.",
    )
