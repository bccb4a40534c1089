"""Delivering the status page's deliveries: open the public incident once, then update it.

Exactly once across crashes. Every call carries the delivery in the incident's metadata
(`{"hotfix_bot": {"incident_id": "INC-3", "delivery": 17}}`; Statuspage wants objects as
its top-level values). A delivery found `sending` after a crash looks before acting:

- an opening: the page's unresolved incidents are searched for that metadata, and an
  incident found is adopted instead of opening a second public incident;
- an update: the incident is read back; its metadata names the last delivery applied
  (set in the same PATCH as the update), and a page that keeps no metadata is checked by
  its latest incident update (same words, same status).

The incident's link (its shortlink) is saved (`incident_links`, system "statuspage"),
bookmarked in the war room and given to the dispatcher, which writes it on the timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from services.chat import Chat, ChatError
from services.clock import Clock
from services.comms import deliveries
from services.comms.deliveries import Delivery, Link
from services.comms.dispatcher import Checkpoint, Sent
from services.comms.errors import Refused, RetryLater
from services.comms.statuspage.client import (
    StatuspageClient,
    StatuspageError,
    StatuspageRateLimited,
    StatuspageRefused,
)
from services.comms.statuspage.planner import CHANNEL, OPEN, RESOLVE, UPDATE
from services.incidents.model import Status
from services.store import Store

log = logging.getLogger(__name__)

SYSTEM = "statuspage"  # incident_links.system
BOOKMARK_TITLE = "Status page"
BOOKMARKED = "bookmarked"
CALLING = "calling"  # the create / update call was made (its answer may never have come)
NOT_APPLIED = "not_applied"  # the page answered that it did not act (420/429, 4xx)
JSON = dict[str, Any]


class StatuspageChannel:
    name = CHANNEL

    def __init__(
        self,
        *,
        client: StatuspageClient | None,
        store: Store,
        clock: Clock,
        chat: Chat | None = None,
        missing_key: str | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.chat = chat
        # The environment variable that should hold the key, when it is not set.
        self.missing_key = missing_key

    def deliver(self, delivery: Delivery, *, resuming: bool, checkpoint: Checkpoint) -> Sent:
        if self.client is None:
            raise Refused(
                f"The status page API key is missing: {self.missing_key} is not set in the"
                " bot's environment. Set it and restart the bot, then publish again."
            )
        try:
            if delivery.action == OPEN:
                return self._open(self.client, delivery, resuming=resuming, checkpoint=checkpoint)
            if delivery.action in (UPDATE, RESOLVE):
                return self._update(self.client, delivery, checkpoint=checkpoint)
        except StatuspageRateLimited as exc:
            raise RetryLater(
                exc.message, after=timedelta(seconds=exc.delay), whole_channel=True
            ) from None
        except StatuspageRefused as exc:
            # The dispatcher adds the hint to what the war room reads.
            raise Refused(f"{exc.message}.", hint=exc.hint) from None
        except StatuspageError as exc:  # down, timed out: the same call may work later
            raise RetryLater(exc.message) from None
        raise Refused(f"unknown status page action {delivery.action!r}")

    # -- opening ----------------------------------------------------------------------

    def _open(
        self,
        client: StatuspageClient,
        delivery: Delivery,
        *,
        resuming: bool,
        checkpoint: Checkpoint,
    ) -> Sent:
        payload = delivery.payload
        incident_id = str(payload["incident_id"])
        link = deliveries.get_link(self.store, incident_id, SYSTEM)
        if link is None:
            found = self._find(client, delivery) if _may_have_called(delivery) else None
            if found is None:
                components: dict[str, str] = dict(payload.get("components") or {})
                fields = {
                    "name": payload["name"],
                    "status": payload["status"],
                    "body": payload["body"],
                    "component_ids": list(components),
                    "components": components,
                    "metadata": metadata_marker(delivery),
                    "deliver_notifications": True,
                }
                found = _call(checkpoint, lambda: client.create_incident(fields))
            link = deliveries.save_link(
                self.store,
                clock=self.clock,
                incident_id=incident_id,
                system=SYSTEM,
                external_id=str(found["id"]),
                url=_shortlink(found),
                # `bookmark`: the war room bookmarks it under this title if it opens later.
                data={"delivery": delivery.id, "bookmark": BOOKMARK_TITLE},
            )
        problem = None
        if delivery.checkpoint != BOOKMARKED:
            problem = self._bookmark(incident_id, link)
            checkpoint(BOOKMARKED)
        label = Status(payload["status"]).label
        summary = f"Status page incident opened ({label})"
        if problem:
            summary += f"; {problem}"
        return Sent(summary=summary, link=link.url, result={"statuspage_id": link.external_id})

    def _find(self, client: StatuspageClient, delivery: Delivery) -> JSON | None:
        """The incident a crashed opening may have created (found by its metadata)."""
        wanted = metadata_marker(delivery)["hotfix_bot"]
        for incident in client.unresolved_incidents():
            mark = (incident.get("metadata") or {}).get("hotfix_bot") or {}
            if mark.get("incident_id") == wanted["incident_id"] and mark.get("delivery") == (
                delivery.id
            ):
                log.info("adopting status page incident %s for %s", incident.get("id"), mark)
                return incident
        return None

    def _bookmark(self, incident_id: str, link: Link) -> str | None:
        """Bookmark the public incident in the war room if the room exists; otherwise the
        war room's opening flow bookmarks it from the saved link. Whichever comes first
        claims it: one bookmark, never none."""
        row = self.store.query_one("SELECT channel_id FROM incidents WHERE id = ?", (incident_id,))
        channel_id = row["channel_id"] if row else None
        if self.chat is None or not channel_id or not link.url:
            return None
        if not deliveries.claim_bookmark(self.store, incident_id, SYSTEM):
            return None
        try:
            self.chat.add_bookmark(str(channel_id), title=BOOKMARK_TITLE, link=link.url)
        except ChatError as exc:
            log.warning("could not bookmark the status page incident: %s", exc.error)
            return f"could not bookmark it in the war room (`{exc.error}`)"
        return None

    # -- updating ---------------------------------------------------------------------

    def _update(
        self, client: StatuspageClient, delivery: Delivery, *, checkpoint: Checkpoint
    ) -> Sent:
        payload = delivery.payload
        incident_id = str(payload["incident_id"])
        link = deliveries.get_link(self.store, incident_id, SYSTEM)
        if link is None:
            raise Refused(
                f"{incident_id} has no public incident to update (its opening failed; see the"
                ' timeline). Use "Publish to status page" in the war room to open it.'
            )
        fields: JSON = {"status": payload["status"], "metadata": metadata_marker(delivery)}
        if "body" in payload:
            fields["body"] = payload["body"]
        components: dict[str, str] | None = payload.get("components")
        if components is not None:
            fields["components"] = components
            fields["component_ids"] = list(components)
        sent = Sent(summary=_update_summary(payload), link=link.url)
        if _may_have_called(delivery) and _applied(
            client.get_incident(link.external_id), delivery, fields
        ):
            return sent
        _call(checkpoint, lambda: client.update_incident(link.external_id, fields))
        return sent


def _call(checkpoint: Checkpoint, call: Callable[[], JSON]) -> JSON:
    """Make a create / update call, marking that a retry must look for its effect first —
    unless the page answered that it did not act (a refusal, a rate limit)."""
    checkpoint(CALLING)
    try:
        return call()
    except (StatuspageRateLimited, StatuspageRefused):
        checkpoint(NOT_APPLIED)
        raise


def _may_have_called(delivery: Delivery) -> bool:
    """Whether an earlier try made the call whose effect is unknown: the bot stopped mid-call,
    or the page timed out or failed after it may have acted. A try held back before calling
    (pacing, a rate limit's wait) made none, so it does not pay for a lookup again."""
    return delivery.checkpoint == CALLING


def metadata_marker(delivery: Delivery) -> dict[str, JSON]:
    return {"hotfix_bot": {"incident_id": delivery.incident_id, "delivery": delivery.id}}


def _shortlink(incident: JSON) -> str | None:
    link = incident.get("shortlink")
    return str(link) if isinstance(link, str) and link.startswith(("https://", "http://")) else None


def _applied(current: JSON, delivery: Delivery, fields: JSON) -> bool:
    """Whether an update cut short by a crash reached the page before the crash."""
    mark = (current.get("metadata") or {}).get("hotfix_bot")
    if isinstance(mark, dict) and "delivery" in mark:
        # Set in the same PATCH as the update: it names the last update applied.
        return bool(mark.get("delivery") == delivery.id)
    updates = current.get("incident_updates") or []
    latest = updates[0] if updates and isinstance(updates[0], dict) else {}
    if "body" not in fields:
        return bool(current.get("status") == fields["status"])
    return bool(latest.get("body") == fields["body"] and latest.get("status") == fields["status"])


def _update_summary(payload: JSON) -> str:
    status = Status(payload["status"])
    if status is Status.RESOLVED:
        back = "; components back to operational" if payload.get("components") else ""
        return f"Status page incident resolved{back}"
    if "body" not in payload:
        states = sorted(set((payload.get("components") or {}).values()))
        return "Status page components marked " + (
            ", ".join(s.replace("_", " ") for s in states) or "unchanged"
        )
    return f"Status page updated ({status.label})"
