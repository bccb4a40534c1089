"""Scale the old colour of a blue-green deployment to 0, some time after the switch.

For the scheduler's tick: `scale_down_idle(store=…, clock=…, settings=…)`. Each succeeded
blue-green deployment is handled once: its detail records `scaled_down` (what was done, or
why nothing was) and its timeline gets one event. Only the latest deployment of a target
scales anything: an older one's old colour may be a newer one's way back. A target with a
deployment in flight is left alone until it is idle again; a cluster error is reported and
retried on the next tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from services import timeline
from services.clock import Clock, isoformat
from services.deploy import deployments
from services.deploy.backends.kubernetes.bluegreen import active_colour, colour_deployment
from services.deploy.backends.kubernetes.rolling import Connect
from services.deploy.model import IN_FLIGHT, Deployment, Kind, State
from services.errors import DeployError, UserFacingError
from services.kube.client import KubeClient, KubeNotFoundError
from services.settings import Settings
from services.store import Store

log = logging.getLogger(__name__)
BOT = timeline.BOT_ACTOR


@dataclass
class CleanupReport:
    scaled: list[str] = field(default_factory=list)  # deployment ids whose old colour went to 0
    settled: list[str] = field(default_factory=list)  # handled without scaling (see their detail)
    problems: list[str] = field(default_factory=list)  # retried on the next tick


def _candidates(store: Store) -> list[Deployment]:
    return [
        d
        for d in deployments.in_states(store, {State.SUCCEEDED})
        if d.kind is Kind.DEPLOY
        and d.strategy == "blue-green"
        and d.backend == "kubernetes"
        and "scaled_down" not in d.detail
        and (d.detail.get("deployed") or {}).get("previous_color")
    ]


def scale_down_idle(
    *,
    store: Store,
    clock: Clock,
    settings: Settings,
    connect: Connect = KubeClient.connect,
) -> CleanupReport:
    """Scale the previous colour of succeeded blue-green deployments to 0 once it is due."""
    report = CleanupReport()
    now = clock.now()
    for deployment in _candidates(store):
        service = settings.services.get(deployment.service)
        env = service.environments.get(deployment.environment) if service else None
        target = env.section("kubernetes") if env else None
        if target is None or target.blue_green is None or deployment.finished_at is None:
            _record(
                store,
                clock,
                deployment,
                {"done": False, "why": "the target is no longer configured for blue-green"},
                text=f"{deployment.id}: old colour left as it is (no blue-green config any more)",
            )
            report.settled.append(deployment.id)
            continue
        due = deployment.finished_at + timedelta(minutes=target.blue_green.scale_down_after_minutes)
        if now < due:
            continue
        if _busy(store, deployment):
            continue  # a deployment of this target is in flight: it may be using that colour
        old = str(deployment.detail["deployed"]["previous_color"])
        later = _later(store, deployment)
        if later is not None:
            # The colours moved on since: the old colour may be the newer deployment's way back.
            _record(
                store,
                clock,
                deployment,
                {"done": False, "why": f"superseded by {later}", "color": old},
                text=f"{deployment.id}: {old} left as it is; {later} changed the target since",
            )
            report.settled.append(deployment.id)
            continue
        try:
            with connect(target) as kube:
                active = active_colour(
                    kube.get_service(target.blue_green.service), target.blue_green
                )
                name = colour_deployment(target, old)
                if active == old:
                    _record(
                        store,
                        clock,
                        deployment,
                        {"done": False, "why": f"{old} serves traffic again", "color": old},
                        text=f"{deployment.id}: {old} ({name}) serves traffic again; not scaled down",
                    )
                    report.settled.append(deployment.id)
                    continue
                try:
                    replicas = int(kube.get_deployment(name).get("spec", {}).get("replicas", 1))
                except KubeNotFoundError:
                    replicas = 0
                if replicas > 0:
                    kube.scale(name, 0)
        except (DeployError, UserFacingError) as exc:
            report.problems.append(f"{deployment.id}: {exc.message}")
            log.warning("blue-green scale-down of %s: %s", deployment.id, exc.message)
            continue
        minutes = target.blue_green.scale_down_after_minutes
        _record(
            store,
            clock,
            deployment,
            {
                "done": True,
                "color": old,
                "deployment": name,
                "replicas": {"old": replicas, "new": 0},
                "at": isoformat(now),
            },
            text=f"{deployment.id}: scaled {old} ({name}) from {replicas} to 0 replicas,"
            f" {minutes:g} min after the switch",
        )
        report.scaled.append(deployment.id)
    return report


def _busy(store: Store, deployment: Deployment) -> bool:
    if deployments.lock_holder(store, deployment.target) is not None:
        return True
    latest = deployments.latest_for_target(
        store, deployment.service, deployment.environment, states={*IN_FLIGHT, State.INTERRUPTED}
    )
    return latest is not None


def _later(store: Store, deployment: Deployment) -> str | None:
    """A later deployment of the same target that went past its approval, if any."""
    row = store.query_one(
        "SELECT id FROM deployments WHERE service = ? AND environment = ? AND number > ?"
        " AND state NOT IN (?, ?, ?, ?) ORDER BY number LIMIT 1",
        (
            deployment.service,
            deployment.environment,
            deployment.number,
            State.REQUESTED.value,
            State.REJECTED.value,
            State.EXPIRED.value,
            State.CANCELLED.value,
        ),
    )
    return str(row["id"]) if row else None


def _record(
    store: Store, clock: Clock, deployment: Deployment, outcome: dict[str, Any], *, text: str
) -> None:
    """Once per deployment: the detail says it is handled, the timeline says what happened."""
    timeline.append(
        store,
        clock=clock,
        incident_id=deployment.incident_id,
        actor=BOT,
        kind="deploy_scaled_down" if outcome.get("done") else "deploy_scale_down_skipped",
        text=text,
        data={"deployment_id": deployment.id, **outcome},
        dedup_key=f"{deployment.id}:bluegreen-scale-down",
    )
    deployments.merge_detail(store, deployment.id, scaled_down=outcome)
