"""Placeholder until the Kubernetes backend lands (rolling and blue-green)."""

from __future__ import annotations

from services.deploy.backend import Backend
from services.deploy.settings import KubernetesTarget
from services.errors import UserFacingError


def kubernetes_backend(target: KubernetesTarget, *, strategy: str) -> Backend:
    raise UserFacingError("The Kubernetes backend is not available in this build.")
