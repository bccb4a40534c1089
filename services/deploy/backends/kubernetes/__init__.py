"""The Kubernetes backend: rolling updates of one Deployment, blue-green behind a Service, or
a progressive canary weighted by an Istio VirtualService.

Only `services.kube` talks to the API; the strategies live in `rolling`, `bluegreen` and
`canary/`. Waiting uses the injected clock, so tests drive a rollout by time. This module
stays light: the client library is imported when a backend is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.clock import Clock
from services.deploy.backend import (
    Backend,
    BackendType,
    BuildOrder,
    ConfigFinding,
    Tidied,
    kubeconfig_findings,
)
from services.deploy.backends.kubernetes.settings import KubernetesTarget

if TYPE_CHECKING:
    from services.settings import Settings
    from services.store import Store


class KubernetesBackendType(BackendType):
    name = "kubernetes"
    settings_model = KubernetesTarget
    strategies = ("rolling", "blue-green", "canary")
    # A deployment may ask for one of these instead of the environment's own strategy.
    switchable = ("rolling", "blue-green")

    def problems(self, settings: Any, strategy: str) -> list[str]:
        target = _target(settings)
        if strategy == "blue-green" and target.blue_green is None:
            return ["strategy blue-green needs kubernetes.blue_green"]
        if strategy == "canary" and target.canary is None:
            return ["strategy canary needs kubernetes.canary"]
        return super().problems(settings, strategy)

    def build(self, settings: Any, order: BuildOrder) -> Backend:
        from services.deploy.backends.kubernetes.backend import kubernetes_backend

        return kubernetes_backend(
            _target(settings),
            strategy=order.strategy,
            clock=order.clock,
            kind=order.kind,
            context=order.context,
        )

    def child_environment(self, settings: Any) -> dict[str, str]:
        # kubectl and helm in the team's checks find the same cluster as the bot.
        target = _target(settings)
        return {"KUBECONFIG": target.kubeconfig} if target.kubeconfig else {}

    def query_values(self, settings: Any) -> dict[str, str]:
        return {"namespace": _target(settings).namespace}

    def card_update_seconds(self, settings: Any) -> float:
        canary = _target(settings).canary
        return canary.card_update_seconds if canary else super().card_update_seconds(settings)

    def findings(
        self,
        settings: Any,
        *,
        values: dict[str, str],
        cwd: Path,
        child_env: Mapping[str, str],
    ) -> list[ConfigFinding]:
        return kubeconfig_findings(_target(settings).missing_kubeconfig_files(cwd))

    def tidy(self, *, store: Store, clock: Clock, settings: Settings) -> Tidied:
        from services.deploy.backends.kubernetes.bluegreen_cleanup import scale_down_idle

        report = scale_down_idle(store=store, clock=clock, settings=settings)
        return Tidied(
            done=[f"{d}: idle blue-green colour scaled down" for d in report.scaled],
            problems=[f"blue-green scale-down: {p}" for p in report.problems],
        )


def _target(settings: Any) -> KubernetesTarget:
    assert isinstance(settings, KubernetesTarget)
    return settings


BACKEND = KubernetesBackendType()
