"""Promotion gates: what must be true of a version before it is deployed to an environment.

Two gates, each in its own module: `requires:` (the version passed validate, and deployed
and verified, on every required environment first — services.deploy.promotion) and
`requires_ci:` (a green CI run for the version's commit — services.ci.gate). A refusal
says what is missing and the command that would supply it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.deploy.settings import EnvironmentSettings
from services.errors import UserFacingError

if TYPE_CHECKING:
    from services.deploy.engine.deps import DeployDeps


@dataclass(frozen=True)
class Refusal:
    gate: str  # "requires" or "ci"
    reason: str  # what is missing, e.g. "2.4.1 was not validated on staging"
    command: str | None = None  # what to run, e.g. "/hotfix validate --environment=staging ..."


def refusals(
    deps: DeployDeps, env: EnvironmentSettings, *, service: str, environment: str, version: str
) -> list[Refusal]:
    """Every gate's refusals for deploying `version` of `service` to `environment`."""
    from services.ci import gate as ci_gate
    from services.deploy import promotion

    found = promotion.refusals(deps, env, service=service, environment=environment, version=version)
    if env.requires_ci:
        found += ci_gate.refusals(deps, env, service=service, version=version)
    return found


class GateRefusedError(UserFacingError):
    """The version has not passed what this environment requires: nothing was recorded."""


def enforce(
    deps: DeployDeps, env: EnvironmentSettings, *, service: str, environment: str, version: str
) -> list[Refusal]:
    """At request time: refuse with every reason and command, or return [] when all pass."""
    found = refusals(deps, env, service=service, environment=environment, version=version)
    if found:
        raise GateRefusedError(
            f"{service} {version} may not be deployed to {environment} yet: "
            + "; ".join(r.reason for r in found)
            + ".",
            hint="\n".join(f"Run `{r.command}`" for r in found if r.command) or None,
        )
    return []
