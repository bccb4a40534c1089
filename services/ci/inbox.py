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


@dataclass(frozen=True)
class Received:
    service: str | None  # None: no service's `ci:` names this repository; nothing kept
    changed: bool  # False: a state as new or newer was already kept (a retry, a late one)


def receive(store: Store, *, clock: Clock, settings: Settings, run: CiRun, sender: str) -> Received:
    service = runs.service_for(settings, run.provider, run.repository)
    if service is None:
        # Acknowledged (the CI would retry a refusal for nothing) and audited: a webhook
        # pointed at the bot for a repository nobody configured is worth finding out about.
        log.info("CI run for %r ignored: no service has it in ci:", run.repository[:100])
        record(
            store,
            clock=clock,
            entry=AuditEntry(
                actor=sender,
                source="webhook",
                action=f"webhook:{run.provider.value}",
                outcome=Outcome.REFUSED,
                detail=f"{run.repository[:100]!r} is no service's ci repository; ignored",
            ),
        )
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
