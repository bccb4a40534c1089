"""A verified webhook delivery, kept: which service it is for and whether it changed anything.

The bot's HTTP layer verifies and parses (bot/webhooks.py with `signatures` and `events`);
this is the part that decides, so it is the same for GitHub and GitLab.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.audit import AuditEntry, Outcome, record
from services.ci import runs
from services.ci.model import CiRun
from services.clock import Clock
from services.settings import Settings
from services.store import Store

log = logging.getLogger(__name__)
# The audit's source of every webhook row (forged, unknown repository, a fork's run), so that
# one word finds them all whatever went wrong.
SOURCE = "webhook"


@dataclass(frozen=True)
class Received:
    # None: nothing kept (no service's `ci:` names this repository, or it is a fork's run)
    service: str | None
    changed: bool  # False: a state as new or newer was already kept (a retry, a late one)


def receive(store: Store, *, clock: Clock, settings: Settings, run: CiRun, sender: str) -> Received:
    service = runs.service_for(settings, run.provider, run.repository)
    # Both acknowledged (the CI would retry a refusal for nothing) and audited: a webhook
    # pointed at the bot for a repository nobody configured is worth finding out about, and
    # a fork's run is anyone's code, which must neither show as the branch's CI nor pass or
    # block the requires_ci gate.
    if service is None:
        log.info("CI run for %r ignored: no service has it in ci:", run.repository[:100])
        _ignored(store, clock, run, sender, "is no service's ci repository")
        return Received(service=None, changed=False)
    if run.foreign is not None:
        log.info("CI %s %s of %s ignored: %s", run.provider.value, run.run_id, service, run.foreign)
        _ignored(store, clock, run, sender, f"{run.run_id}: {run.foreign}")
        return Received(service=None, changed=False)
    changed = runs.store_run(store, clock=clock, service=service, run=run)
    log.info(
        "CI %s %s %s for %s at %s: %s",
        run.provider.value,
        run.run_id,
        run.outcome.value,
        service,
        run.head_sha[:12],
        "kept" if changed else "older than what is kept",
    )
    return Received(service=service, changed=changed)


def _ignored(store: Store, clock: Clock, run: CiRun, sender: str, why: str) -> None:
    record(
        store,
        clock=clock,
        entry=AuditEntry(
            actor=sender,
            source=SOURCE,
            action=f"webhook:{run.provider.value}",
            outcome=Outcome.REFUSED,
            detail=f"{run.repository[:100]!r} {why}; ignored",
        ),
    )
