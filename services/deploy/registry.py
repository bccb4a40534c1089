"""The backends the bot knows: one line per backend package. Nothing else names them."""

from __future__ import annotations

import logging

from services.clock import Clock, SystemClock
from services.deploy.analysis.run import QueryContext
from services.deploy.backend import Backend, BackendType, BuildOrder, DeployContext, Tidied
from services.deploy.backends import argo_rollouts, command, kubernetes
from services.deploy.model import Deployment
from services.deploy.process import environment_for
from services.deploy.settings import EnvironmentSettings
from services.errors import UserFacingError
from services.settings import Settings
from services.store import Store

log = logging.getLogger(__name__)

BACKENDS: dict[str, BackendType] = {
    b.name: b
    for b in (
        command.BACKEND,
        kubernetes.BACKEND,
        argo_rollouts.BACKEND,
    )
}


def backend_type(name: str) -> BackendType:
    found = BACKENDS.get(name)
    if found is None:
        raise UserFacingError(
            f"Unknown backend {name!r}.",
            hint=f"The backends are {', '.join(BACKENDS)}; fix the environment's `backend:`.",
        )
    return found


def make_backend(
    deployment: Deployment,
    env: EnvironmentSettings,
    context: DeployContext | None = None,
    *,
    clock: Clock | None = None,
) -> Backend:
    return target_backend(
        env,
        service=deployment.service,
        environment=deployment.environment,
        strategy=deployment.strategy,
        kind=deployment.kind.value,
        clock=clock,
        context=context,
    )


def target_backend(
    env: EnvironmentSettings,
    *,
    service: str,
    environment: str,
    strategy: str | None = None,
    kind: str = "deploy",
    clock: Clock | None = None,
    context: DeployContext | None = None,
) -> Backend:
    """The backend of a target, for one deployment or to read it (/hotfix validate)."""
    order = BuildOrder(
        service=service,
        environment=environment,
        strategy=strategy or env.strategy,
        kind=kind,
        clock=clock or SystemClock(),
        context=context or DeployContext(service=service),
        child_env=environment_for(env),
    )
    return backend_type(env.backend).build(env.target, order)


def query_context(env: EnvironmentSettings, *, service: str, version: str | None) -> QueryContext:
    """What an analysis's placeholders stand for on this target: the service, the version
    that should be live ({version} and {canary}) and the backend's values ({namespace})."""
    values = backend_type(env.backend).query_values(env.target)
    return QueryContext(
        service=service, namespace=values.get("namespace"), version=version, canary=version
    )


def tidy(*, store: Store, clock: Clock, settings: Settings) -> Tidied:
    """Every backend's housekeeping, one after the other; one failing does not stop the rest."""
    tidied = Tidied()
    for backend in BACKENDS.values():
        try:
            one = backend.tidy(store=store, clock=clock, settings=settings)
        except Exception as exc:  # the next tick tries again
            log.exception("%s housekeeping failed", backend.name)
            tidied.problems.append(f"{backend.name} housekeeping failed: {exc}")
            continue
        tidied.done += one.done
        tidied.problems += one.problems
    return tidied
