"""The `requires_ci` gate: a deploy needs a green CI run for its version's commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.deploy.settings import EnvironmentSettings

if TYPE_CHECKING:
    from services.deploy.backend import ShouldAbort
    from services.deploy.engine.deps import DeployDeps
    from services.deploy.gates import Refusal
    from services.deploy.model import Deployment


def refusals(
    deps: DeployDeps, env: EnvironmentSettings, *, service: str, version: str
) -> list[Refusal]:
    """At request time: why this version may not be deployed yet ([] when CI allows it).

    A run still in progress is no refusal: the approved deploy waits for it (`wait_for_green`).
    """
    return []


def wait_for_green(
    deps: DeployDeps, env: EnvironmentSettings, deployment: Deployment, *, should_abort: ShouldAbort
) -> str:
    """In the engine, before validating: wait for a green run; the step's line for the card.

    Raises DeployError(changed=False) when the run fails or none turns green in time.
    """
    return "CI not checked"
