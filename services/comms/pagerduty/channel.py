"""Sending the planned alert events to PagerDuty, and what the timeline says of them.

Resuming after a crash needs no lookup: the Events API applies an event to the open
alert with its `dedup_key`, so an event sent again is one more log entry on that alert
(a trigger opens no second alert and notifies nobody twice; an acknowledge or resolve
of an alert already in that state changes nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from services.comms.deliveries import Delivery
from services.comms.dispatcher import Checkpoint, Sent, retry_wait
from services.comms.errors import Refused, RetryLater
from services.comms.pagerduty.client import (
    EventsClient,
    PagerDutyError,
    PagerDutyRateLimited,
    PagerDutyRejected,
    PagerDutyUnavailable,
)
from services.comms.pagerduty.events import war_room_details, war_room_links
from services.incidents import records
from services.store import Store

# PagerDuty sends no Retry-After with its 429 and suggests backing off (its rate-limit
# page: retry about 30 seconds apart); the dispatcher's backoff takes over from there.
RATE_LIMIT_WAIT = timedelta(seconds=30)
CONFIG_HINT = "Check `paging: pagerduty: events_url` in hotfix.yml, then page with /hotfix page."
REJECTED_HINT = "page with /hotfix page (with --message) or in PagerDuty itself."


class PagerDutyChannel:
    name = "pagerduty"

    def __init__(
        self,
        *,
        client: EventsClient,
        environ: Mapping[str, str],
        store: Store | None = None,
    ) -> None:
        self.client = client
        # Read when an event is sent, so a key set after a failure is used by the retry.
        self.environ = environ
        self.store = store

    def deliver(self, delivery: Delivery, *, resuming: bool, checkpoint: Checkpoint) -> Sent:
        payload = delivery.payload
        env = str(payload["routing_key_env"])
        routing_key = self.environ.get(env, "").strip()
        if not routing_key:
            raise Refused(
                f"the routing key for {payload['target']} is missing: the environment"
                f" variable {env} is not set. Set it to the integration key of a PagerDuty"
                " Events API v2 integration, restart the bot, and page with /hotfix page."
            )
        event = self._with_war_room(delivery, payload["event"])
        try:
            accepted = self.client.send(event, routing_key=routing_key)
        except PagerDutyRateLimited as exc:
            wait = (
                timedelta(seconds=exc.delay)
                if exc.delay is not None
                else max(RATE_LIMIT_WAIT, retry_wait(delivery.attempts + 1))
            )
            raise RetryLater(exc.message, after=wait) from None
        except PagerDutyUnavailable as exc:
            raise RetryLater(exc.message) from None
        except PagerDutyRejected as exc:
            raise Refused(f"{exc.message}. Nobody was paged by it: {REJECTED_HINT}") from None
        except PagerDutyError as exc:
            raise Refused(f"{exc.message}. {CONFIG_HINT}") from None
        return Sent(summary=str(payload["said"]), result={"dedup_key": accepted.dedup_key})

    def _with_war_room(self, delivery: Delivery, event: dict[str, Any]) -> dict[str, Any]:
        """A trigger planned before its war room existed (a declaration pages before Slack is
        asked for anything) carries the war room if it exists by now: the paged person's
        first click. (The declaration's trigger waits for the war room a few seconds at most:
        `Outgoing.wait_for_war_room`.)"""
        if event.get("event_action") != "trigger" or self.store is None:
            return event
        details = event.get("payload", {}).get("custom_details", {})
        if not delivery.incident_id or "war_room" in details:
            return event
        incident = records.get(self.store, delivery.incident_id)
        if not incident.channel_id:
            return event
        enriched = copy.deepcopy(event)
        enriched["payload"]["custom_details"] = {**details, **war_room_details(incident)}
        enriched["links"] = war_room_links(incident) + list(event.get("links") or [])
        return enriched
