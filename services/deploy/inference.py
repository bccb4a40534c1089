"""What a deploy or rollback typed in a war room leaves out, inferred from what the bot knows.

The runbook says `/hotfix deploy --target=production` right after `/hotfix finish`, and
`/hotfix rollback --version=previous` while the incident runs: the incident's timeline
already names the hotfix (its service, and the tag its finish made) and the deployments
made for it. Whatever is inferred is said, with where it came from, on the card and the
timeline; whatever cannot be inferred is asked for by its flag, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from services import timeline
from services.deploy.approvals import target_settings
from services.deploy.model import Deployment, State
from services.errors import UserFacingError
from services.incidents.model import Incident
from services.settings import Settings
from services.store import Store

NEVER_RAN = (State.REJECTED, State.EXPIRED, State.CANCELLED)


class MissingChoiceError(UserFacingError):
    """A flag was left out and nothing the bot knows answers it: the person must name it."""


@dataclass(frozen=True)
class Choice:
    service: str
    environment: str
    version: str
    inferred: tuple[str, ...]  # "version v2.1.1 — inferred from hotfix PROD-2847's finish"


@dataclass(frozen=True)
class Hotfix:
    """The incident's latest hotfix, as its timeline recorded it."""

    service: str
    issue_key: str
    tag: str | None  # the tag its finish made; None while it is not finished


def incident_hotfix(store: Store, incident: Incident, service: str | None) -> Hotfix | None:
    """The hotfix cut or finished last in this incident (of `service`, when given)."""
    latest: Hotfix | None = None
    tags: dict[tuple[str, str], str] = {}
    for event in timeline.events(store, incident_id=incident.id):
        if event.kind not in ("hotfix_created", "hotfix_finished"):
            continue
        name, key = str(event.data.get("service") or ""), str(event.data.get("issue_key") or "")
        if not name or not key or (service is not None and name != service):
            continue
        if event.kind == "hotfix_finished" and event.data.get("tag"):
            tags[(name, key)] = str(event.data["tag"])
        latest = Hotfix(service=name, issue_key=key, tag=None)
    if latest is None:
        return None
    return Hotfix(latest.service, latest.issue_key, tags.get((latest.service, latest.issue_key)))


def deployable_services(settings: Settings) -> list[str]:
    return sorted(name for name, s in settings.services.items() if s.environments)


def for_deploy(
    settings: Settings,
    store: Store,
    *,
    incident: Incident | None,
    environment: str,
    service: str | None,
    version: str | None,
    again: str = "/hotfix deploy --target={environment} --service={service} --version=v…",
) -> Choice:
    """The service and version of `deploy`, the ones typed or the ones the incident implies.

    `again`: the command that names the version, as the answer suggests it (`validate` has
    its own)."""
    inferred: list[str] = []
    hotfix = incident_hotfix(store, incident, service) if incident is not None else None
    if service is None:
        service = _infer_service(settings, incident, hotfix, inferred)
    if version is None:
        # A target that does not exist is answered as such, before asking for a version.
        target_settings(settings, service, environment)
        again = again.format(environment=environment, service=service)
        version, why = _infer_version(incident, hotfix, service, again)
        inferred.append(f"version {version} — {why}")
    return Choice(service, environment, version, tuple(inferred))


def _infer_service(
    settings: Settings, incident: Incident | None, hotfix: Hotfix | None, inferred: list[str]
) -> str:
    known = deployable_services(settings)
    if hotfix is not None and hotfix.service in known and incident is not None:
        inferred.append(
            f"service {hotfix.service} — from hotfix {hotfix.issue_key} of {incident.id}"
        )
        return hotfix.service
    if len(known) == 1:
        inferred.append(f"service {known[0]} — the only configured service")
        return known[0]
    if not known:
        raise MissingChoiceError(
            "No service has deploy targets configured.",
            hint="Add services.<name>.environments to the bot's configuration.",
        )
    raise MissingChoiceError(
        "Which service? Several are configured: " + ", ".join(known) + ".",
        hint="Add --service=<name>"
        + ("" if incident else " (in an incident's war room, its hotfix's service is used)")
        + ".",
    )


def _infer_version(
    incident: Incident | None, hotfix: Hotfix | None, service: str, again: str
) -> tuple[str, str]:
    if incident is None:
        raise MissingChoiceError(
            "Which version? Outside an incident's war room there is no hotfix to take it from.",
            hint=f"Name it: {again}",
        )
    if hotfix is None or hotfix.service != service:
        raise MissingChoiceError(
            f"Which version? {incident.id} has no hotfix of {service} to take it from.",
            hint=f"Finish one here (/hotfix create, /hotfix finish), or name it: {again}",
        )
    if hotfix.tag is None:
        raise MissingChoiceError(
            f"Hotfix {hotfix.issue_key} is not finished yet: it has no version to deploy.",
            hint=f"Run /hotfix finish --issue={hotfix.issue_key} first, or name it: {again}",
        )
    return hotfix.tag, f"inferred from hotfix {hotfix.issue_key}'s finish"


def for_rollback(
    store: Store,
    *,
    incident: Incident | None,
    environment: str | None,
    service: str | None,
) -> tuple[str, str, tuple[str, ...]]:
    """(service, environment, what was inferred) of `rollback`: the ones typed, or those of
    the incident's last deployment."""
    if service is not None and environment is not None:
        return service, environment, ()
    missing = " ".join(
        flag
        for flag, value in (("--target=<environment>", environment), ("--service=<name>", service))
        if value is None
    )
    if incident is None:
        raise MissingChoiceError(
            "Which target? Outside an incident's war room there is no deployment to roll back"
            " from.",
            hint=f"Name it: /hotfix rollback {missing}",
        )
    last = last_deployment(store, incident.id, service=service, environment=environment)
    if last is None:
        raise MissingChoiceError(
            f"{incident.id} has no deployment to roll back"
            + (f" on {(service or environment or '')[:40]}" if service or environment else "")
            + ".",
            hint=f"Name the target: /hotfix rollback {missing}",
        )
    inferred = [
        f"{what} {value} — from {last.id}, {incident.id}'s last deployment"
        for what, value, typed in (
            ("target", last.environment, environment),
            ("service", last.service, service),
        )
        if typed is None
    ]
    return last.service, last.environment, tuple(inferred)


def last_deployment(
    store: Store, incident_id: str, *, service: str | None, environment: str | None
) -> Deployment | None:
    """The incident's newest deployment or rollback (of `service` / on `environment`); a
    request that never ran (rejected, expired, cancelled) changed no target."""
    never_ran = tuple(s.value for s in NEVER_RAN)
    row = store.query_one(
        "SELECT * FROM deployments WHERE incident_id = ? AND state NOT IN (?, ?, ?)"
        " AND (? IS NULL OR service = ?) AND (? IS NULL OR environment = ?)"
        " ORDER BY number DESC LIMIT 1",
        (incident_id, *never_ran, service, service, environment, environment),
    )
    return Deployment.from_row(row) if row else None


def for_verify(
    settings: Settings,
    store: Store,
    *,
    incident: Incident | None,
    environment: str | None,
    service: str | None,
) -> tuple[str, str, tuple[str, ...]]:
    """(service, environment, what was inferred) of `verify`: the service like a deploy's
    (the incident's hotfix's, else the only one, else its last deployment's); the target
    the incident's last deployment's, else the service's only environment."""
    inferred: list[str] = []
    last = (
        last_deployment(store, incident.id, service=service, environment=environment)
        if incident is not None
        else None
    )
    if service is None:
        try:
            hotfix = incident_hotfix(store, incident, None) if incident is not None else None
            service = _infer_service(settings, incident, hotfix, inferred)
        except MissingChoiceError:
            if last is None or incident is None:
                raise
            service = last.service
            inferred.append(f"service {service} — from {last.id}, {incident.id}'s last deployment")
    if environment is None:
        if incident is not None:
            last = last_deployment(store, incident.id, service=service, environment=None)
        if last is not None and incident is not None:
            environment = last.environment
            inferred.append(
                f"target {environment} — from {last.id}, {incident.id}'s last deployment"
            )
        else:
            svc = settings.services.get(service)
            known = sorted(svc.environments) if svc else []
            if len(known) != 1:
                target_settings(settings, service, known[0] if known else "")
                raise MissingChoiceError(
                    f"Which target? {service} has several environments: {', '.join(known)}.",
                    hint="Add --target=<environment>"
                    + ("" if incident else " (in an incident's war room, its last deployment's)")
                    + ".",
                )
            environment = known[0]
            inferred.append(f"target {environment} — {service}'s only environment")
    return service, environment, tuple(inferred)
