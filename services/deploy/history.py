"""What ran on a target before: read from the deployments the bot recorded.

A deploy script keeps no revision history of its own (unlike a Kubernetes Deployment's
ReplicaSets), so "roll back to the previous version" is answered from the records: the
change that put the current version in place says what ran before it. After a rollback
that is the version rolled back from, as with `kubectl rollout undo` run twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.deploy.model import Deployment, Kind, State
from services.store import Store


@dataclass(frozen=True)
class Previous:
    version: str
    source: str  # the deployment that replaced it with the current version


def landed(deployment: Deployment) -> str | None:
    """The version a finished deployment left running, as far as the records say."""
    if deployment.kind is Kind.DEPLOY and deployment.state is State.SUCCEEDED:
        return deployment.version
    if deployment.state is State.ROLLED_BACK:
        to = deployment.detail.get("rolled_back_to")
        return str(to) if to else None
    return None


def previous_version(
    store: Store, service: str, environment: str, *, running: str | None
) -> Previous | None:
    """The version that ran before `running`, or None when the records cannot tell."""
    rows = store.query(
        "SELECT * FROM deployments WHERE service = ? AND environment = ? AND state IN (?, ?)"
        " ORDER BY number DESC",
        (service, environment, State.SUCCEEDED.value, State.ROLLED_BACK.value),
    )
    for row in rows:
        deployment = Deployment.from_row(row)
        now = landed(deployment)
        if now is None:
            continue
        if running is not None and now != running:
            # Something else (a person, another tool) changed the target since: the
            # records no longer explain what runs, so they must not guess.
            return None
        before = deployment.before.get("version")
        if before == now:
            continue  # undone (a failed deploy rolled back): an earlier change explains `now`
        return Previous(version=str(before), source=deployment.id) if before else None
    return None


def ran_there(store: Store, service: str, environment: str, version: str) -> bool:
    """Did `version` ever run on the target, by the records: a finished deployment of it,
    a rollback to it, or what ran before one of the bot's deployments."""
    rows = store.query(
        "SELECT * FROM deployments WHERE service = ? AND environment = ?", (service, environment)
    )
    for row in rows:
        deployment = Deployment.from_row(row)
        if landed(deployment) == version or deployment.before.get("version") == version:
            return True
    return False
