"""The Argo Rollouts backend: the bot's approvals, card and rollbacks on a team's `Rollout`.

Deploy sets the container image on the Rollout and follows its status (phase, step, canary
weight, pause conditions, abort) onto the deployment card; the card's Promote, Pause, Resume
and Abort drive the Rollout the way `kubectl argo rollouts` does. Only `services.kube` talks
to the API. This module stays light: the client library is imported when a backend is built.
"""

from __future__ import annotations

from typing import Any

from services.deploy.backend import Backend, BuildOrder, ClusterBackendType
from services.deploy.backends.argo_rollouts.settings import ArgoRolloutsTarget


class ArgoRolloutsBackendType(ClusterBackendType):
    name = "argo_rollouts"
    settings_model = ArgoRolloutsTarget
    # The Rollout's own spec.strategy says which; the environment's must name the same one
    # (checked against the Rollout before a deployment), and a deployment cannot switch it.
    strategies = ("canary", "blue-green")

    def problems(self, settings: Any, strategy: str) -> list[str]:
        if strategy == "rolling":
            return [
                "the argo_rollouts backend follows the Rollout's own strategy: set the"
                " environment's strategy to canary or blue-green, as in the Rollout's"
                " spec.strategy"
            ]
        return super().problems(settings, strategy)

    def build(self, settings: Any, order: BuildOrder) -> Backend:
        from services.deploy.backends.argo_rollouts.backend import ArgoRolloutsBackend

        return ArgoRolloutsBackend(
            _target(settings),
            strategy=order.strategy,
            clock=order.clock,
            kind=order.kind,
            context=order.context,
        )

    def card_update_seconds(self, settings: Any) -> float:
        return _target(settings).card_update_seconds


def _target(settings: Any) -> ArgoRolloutsTarget:
    assert isinstance(settings, ArgoRolloutsTarget)
    return settings


BACKEND = ArgoRolloutsBackendType()
