"""/hotfix validate's built-in configuration check: what the target should run against
what it runs.

Two sources say what it should run: the configuration (the backend's own reading,
`Backend.consistency`: the object exists, its image repository, its ready replicas) and the
bot's records (the last deployment that finished on the target left a version there; a
different one now means someone deployed by hand, and a promotion would start from a
version nobody validated).
"""

from __future__ import annotations

from services.clock import Clock
from services.deploy import deployments, registry
from services.deploy.model import Deployment, Kind, State
from services.deploy.settings import EnvironmentSettings
from services.errors import UserFacingError
from services.store import Store

# The deployments whose end is known: what they left on the target is recorded.
LEFT_A_VERSION = {State.SUCCEEDED, State.ROLLED_BACK}


def recorded_version(deployment: Deployment) -> str | None:
    """The version a finished deployment left on its target, as the bot recorded it."""
    to = deployment.detail.get("rolled_back_to")
    if deployment.state is State.ROLLED_BACK:  # a deploy undone: back on what ran before
        return str(to or deployment.before.get("version") or "") or None
    if deployment.kind is Kind.ROLLBACK:
        return str(to) if to else None  # "previous" is no version
    return deployment.version


def configuration_problems(
    store: Store, env: EnvironmentSettings, *, service: str, environment: str, clock: Clock
) -> list[str]:
    """Problems found, or [] when the target agrees with its configuration and records."""
    target = f"{service}/{environment}"
    try:
        backend = registry.target_backend(
            env, service=service, environment=environment, clock=clock
        )
        problems = backend.consistency()
    except UserFacingError as exc:
        return [f"cannot check {target}: {exc.message}"]
    last = deployments.latest_for_target(store, service, environment, states=LEFT_A_VERSION)
    expected = recorded_version(last) if last is not None else None
    if last is None or expected is None:
        return problems
    try:
        running = backend.current()
    except UserFacingError as exc:
        return [*problems, f"cannot read what {target} runs: {exc.message}"]
    if running.version is not None and running.version != expected:
        problems.append(
            f"{target} runs {running.version}, but the bot's last deployment there ({last.id})"
            f" left {expected}: it was changed outside the bot (deployed by hand?)."
        )
    return problems


def running_version(
    env: EnvironmentSettings, *, service: str, environment: str, clock: Clock
) -> tuple[str | None, str | None]:
    """(what the target runs now, None), or (None, why it could not be read)."""
    try:
        backend = registry.target_backend(
            env, service=service, environment=environment, clock=clock
        )
        running = backend.current().version
    except UserFacingError as exc:
        return None, exc.message
    if running is None:
        return None, "the target does not say which version it runs"
    return running, None
