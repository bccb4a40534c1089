"""Promotion gates: what must be true of a version before it is deployed to an environment.

Two gates, each in its own module: `requires:` (the version passed validate, and deployed
and verified, on every required environment first — services.deploy.promotion) and
`requires_ci:` (a green CI run for the version's commit — services.ci.gate). A refusal
says what is missing and the command that would supply it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services import audit, timeline
from services.deploy.settings import EnvironmentSettings
from services.errors import PermissionDeniedError

if TYPE_CHECKING:
    from services.deploy.engine.deps import DeployDeps
    from services.deploy.model import Deployment
    from services.incidents.model import Incident


@dataclass(frozen=True)
class Refusal:
    gate: str  # "requires" or "ci"
    reason: str  # what is missing, e.g. "2.4.1 was not validated on staging"
    command: str | None = None  # what to run, e.g. "/hotfix validate --environment=staging ..."

    def as_data(self) -> dict[str, Any]:
        return {"gate": self.gate, "reason": self.reason, "command": self.command}

    @property
    def skipped_line(self) -> str:
        """The card's and the timeline's words for a gate break-glass skipped."""
        what = "CI gate" if self.gate == "ci" else "staging gate"
        return f"BREAK-GLASS: skipped {what}: {self.reason}"


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


class GateRefusedError(PermissionDeniedError):
    """The version has not passed what this environment requires: nothing was recorded.

    A refusal like a permission refusal: the command guard audits it as `refused`."""


def break_glass(env: EnvironmentSettings, incident: Incident | None) -> bool:
    """An open incident of one of the environment's break-glass severities: the promotion
    gates (`requires:` and `requires_ci:`) are skipped, loudly. Both gates, because a
    severe incident's fix cannot wait for staging or for CI; the skip is on the card, the
    timeline and the audit, and the approvals still apply."""
    glass = env.break_glass
    return (
        glass is not None
        and incident is not None
        and incident.is_open
        and incident.severity.value in glass.severities
    )


def enforce(
    deps: DeployDeps,
    env: EnvironmentSettings,
    *,
    service: str,
    environment: str,
    version: str,
    incident: Incident | None = None,
) -> list[Refusal]:
    """At request time: refuse with every reason and command, or return what break-glass
    skipped ([] when every gate passed)."""
    found = refusals(deps, env, service=service, environment=environment, version=version)
    if found and break_glass(env, incident):
        return found
    if found:
        raise GateRefusedError(
            f"{service} {version} may not be deployed to {environment} yet: "
            + "; ".join(r.reason for r in found)
            + ".",
            hint="\n".join(f"Run `{r.command}`" for r in found if r.command) or None,
        )
    return []


def record_skipped(deps: DeployDeps, deployment: Deployment, skipped: list[Refusal]) -> None:
    """Break-glass skipped these gates: a timeline row and an audit row each say so."""
    if not skipped:
        return
    lines = [r.skipped_line for r in skipped]
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=deployment.incident_id,
        actor=deployment.requested_by,
        kind="deploy_gate_skipped",
        text=f"{deployment.id}: " + "; ".join(lines),
        data={"deployment_id": deployment.id, "skipped": [r.as_data() for r in skipped]},
    )
    audit.record(
        deps.store,
        clock=deps.clock,
        entry=audit.AuditEntry(
            actor=deployment.requested_by,
            source="engine",
            action="deploy_gate_break_glass",
            outcome=audit.Outcome.OK,
            detail=f"{deployment.id} ({deployment.target} {deployment.version}): "
            + "; ".join(lines),
            channel_id=deployment.channel_id,
        ),
    )
