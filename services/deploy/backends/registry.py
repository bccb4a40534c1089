"""Choosing the backend for a deployment's target."""

from __future__ import annotations

from services.clock import Clock, SystemClock
from services.deploy.backends.base import Backend
from services.deploy.backends.command.backend import CommandBackend
from services.deploy.model import Deployment
from services.deploy.process import environment_for
from services.deploy.settings import EnvironmentSettings
from services.errors import UserFacingError


def make_backend(
    deployment: Deployment, env: EnvironmentSettings, *, clock: Clock | None = None
) -> Backend:
    if env.backend == "command":
        assert env.command is not None
        return CommandBackend(
            env.command,
            service=deployment.service,
            environment=deployment.environment,
            child_env=environment_for(env),
            kind=deployment.kind.value,
        )
    if env.backend == "kubernetes":
        assert env.kubernetes is not None
        from services.deploy.backends.kubernetes.backend import kubernetes_backend

        return kubernetes_backend(
            env.kubernetes,
            strategy=deployment.strategy,
            clock=clock or SystemClock(),
            kind=deployment.kind.value,
        )
    raise UserFacingError(f"Unknown backend {env.backend!r}.")
