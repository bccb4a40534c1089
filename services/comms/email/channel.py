"""Sending a planned email: its place in the incident's thread, once.

Threading: per incident and audience, the first mail sent is the thread's root, with a
Message-ID derived from the incident (its id and declaration time) and the audience; every
later mail to that audience has its own Message-ID and `In-Reply-To`/`References` the root.
The root is recorded (`incident_links`, system `email:<audience>`) before the mail goes,
so a mail sent again is the same message with the same Message-ID.

After a crash (see client.py): a delivery marked SEALED is not sent again and is written on
the timeline as "delivery unconfirmed"; one marked DELIVERED was accepted and is recorded;
any other mark means the relay never took the mail, and it is sent (the same mail) again.

Recipients the relay refuses one by one (550) do not stop the others' mail; they are queued
as a delivery of their own that fails at once, so that the war room is told who missed it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from services.clock import Clock, parse_iso
from services.comms import deliveries
from services.comms.deliveries import Delivery, Outgoing
from services.comms.dispatcher import Checkpoint, Sent
from services.comms.email.client import (
    SEALED,
    Delivered,
    MailRefused,
    MailUnconfirmed,
    SmtpClient,
)
from services.comms.email.compose import Mail, Thread, clean_header, compose, message_id
from services.comms.email.planner import ACTION, CHANNEL
from services.comms.email.settings import EmailSettings
from services.store import Store

DELIVERED = "delivered"  # the relay answered 250 to the "."


class EmailChannel:
    name = CHANNEL

    def __init__(
        self, *, settings: EmailSettings, client: SmtpClient, store: Store, clock: Clock
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.clock = clock

    def deliver(self, delivery: Delivery, *, resuming: bool, checkpoint: Checkpoint) -> Sent:
        # The marks are looked at whether or not this is a restart: a mark outlives a retry.
        if delivery.checkpoint == SEALED:
            return self._unconfirmed(delivery, "the bot stopped while the mail relay confirmed it")
        if delivery.checkpoint == DELIVERED:
            return Sent(self._sentence(delivery, None), result={"confirmed_before_restart": True})
        if "refused" in delivery.payload:
            raise MailRefused(_refusal(delivery))
        payload = delivery.payload
        thread = self.thread(delivery)
        mail = Mail(
            sender=self.settings.from_address,
            to=list(payload["to"]) if payload.get("show_to") else [],
            subject=str(payload["subject"]),
            text=str(payload["text"]),
            html=str(payload["html"]),
            date=parse_iso(str(payload["date"])),
            thread=thread,
            incident_id=delivery.incident_id if payload.get("messages") != "customer" else None,
        )
        try:
            delivered = self.client.send(
                compose(mail),
                sender=self.settings.from_address,
                recipients=list(payload["to"]),
                checkpoint=checkpoint,
            )
        except MailUnconfirmed as exc:
            return self._unconfirmed(delivery, exc.message)
        if delivered.refused:
            self._report_refused(delivery, delivered.refused)
        checkpoint(DELIVERED)
        return Sent(
            self._sentence(delivery, delivered),
            result={
                "message_id": thread.message_id,
                "in_reply_to": thread.root,
                "accepted": delivered.accepted,
                "refused": delivered.refused,
                "reply": delivered.reply,
            },
        )

    def thread(self, delivery: Delivery) -> Thread:
        incident_id = delivery.incident_id or "none"
        audience = delivery.audience or "all"
        started = parse_iso(str(delivery.payload["incident_started"]))
        domain = self.settings.domain
        root = message_id("hotfix", incident_id, _stamp(started), audience, domain=domain)
        link = deliveries.save_link(
            self.store,
            clock=self.clock,
            incident_id=incident_id,
            system=f"email:{audience}",
            external_id=root,
            data={"delivery": delivery.id},
        )
        if link.data.get("delivery") == delivery.id:
            return Thread(message_id=link.external_id, root=None)
        own = hashlib.sha256(delivery.dedup_key.encode()).hexdigest()[:16]
        mail_id = message_id("hotfix", incident_id, _stamp(started), audience, own, domain=domain)
        return Thread(message_id=mail_id, root=link.external_id)

    def _report_refused(self, delivery: Delivery, refused: dict[str, str]) -> None:
        """Recipients refused one by one are a failure of their own, queued once: it is
        written on the timeline and said in the war room like any delivery that failed."""
        deliveries.enqueue(
            self.store,
            clock=self.clock,
            incident_id=delivery.incident_id,
            outgoing=Outgoing(
                channel=CHANNEL,
                action=ACTION,
                key="refused",
                audience=delivery.audience,
                payload={"refused": refused, "subject": delivery.payload.get("subject", "")},
            ),
            dedup_key=f"{delivery.dedup_key}:refused",
        )

    def _sentence(self, delivery: Delivery, delivered: Delivered | None) -> str:
        subject = clean_header(str(delivery.payload.get("subject", "")), limit=80)
        count = len(delivered.accepted) if delivered else len(delivery.payload.get("to", []))
        text = f"Emailed {delivery.audience} ({count} recipient{'s' if count != 1 else ''}): “{subject}”"
        if delivered and delivered.refused:
            refused = "; ".join(f"{r} ({why})" for r, why in delivered.refused.items())
            text += f". Refused by the mail relay: {refused}"
        return text

    def _unconfirmed(self, delivery: Delivery, why: str) -> Sent:
        subject = clean_header(str(delivery.payload.get("subject", "")), limit=80)
        return Sent(
            f"Email to {delivery.audience}: delivery unconfirmed ({why}); it is not sent"
            f" again, so that nobody gets it twice: ask a recipient whether “{subject}” arrived.",
            result={"unconfirmed": True},
        )


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def _refusal(delivery: Delivery) -> str:
    refused = dict(delivery.payload["refused"])
    subject = clean_header(str(delivery.payload.get("subject", "")), limit=80)
    names = "; ".join(f"{address} ({why})" for address, why in refused.items())
    return (
        f"the mail relay refused {names}: they did not get “{subject}” (to {delivery.audience});"
        " the other recipients did. Check these addresses in email.audiences"
    )
