"""Socket Mode envelopes: what tests push to the app (slash commands, events,
block actions, view submissions) and the acknowledgements the app sends back."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from tests.harness.slack_emulator.model import (
    JSON,
)
from tests.harness.slack_emulator.state import EmulatorState


class SocketEnvelopes(EmulatorState):
    """Socket Mode envelopes and their acknowledgements."""

    def socket_messages(self) -> list[JSON]:
        """Every message the app sent over Socket Mode, in arrival order (acks
        included).  A text frame that is not a JSON object is recorded as
        ``{"_raw": text}``."""
        with self._lock:
            return copy.deepcopy(self._socket_messages)

    def socket_envelopes(self) -> list[JSON]:
        """The envelopes delivered so far, exactly as sent, oldest first."""
        with self._lock:
            return [copy.deepcopy(e["envelope"]) for e in self._socket_envelopes.values()]

    def socket_send(
        self,
        envelope_type: str,
        payload: JSON,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Deliver an envelope to the connected app as Slack does; returns its
        ``envelope_id``.

        ``{"envelope_id", "type", "payload", "accepts_response_payload"}``, plus
        ``retry_attempt`` / ``retry_reason`` for ``events_api`` only (Slack
        sends those two on Events API envelopes alone).  It goes to the newest
        live connection that was not sent a ``disconnect``.  Raises
        AssertionError when no connection is live (see :meth:`wait_for_socket`).
        """
        return self._socket_deliver(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    def socket_ack(self, envelope_id: str, timeout: float = 5.0) -> JSON:
        """Wait for the app's acknowledgement of ``envelope_id`` and return it as
        sent: ``{"envelope_id": ...}`` plus ``"payload"`` when the app gave one.
        Raises AssertionError on timeout."""
        if not self.wait_for(lambda: self._has_ack(envelope_id), timeout):
            with self._lock:
                sent = self._socket_envelopes.get(envelope_id)
                where = "never sent" if sent is None else f"sent on {sent['session']}"
                received = copy.deepcopy(self._socket_messages[-5:])
            raise AssertionError(
                f"no ack for envelope {envelope_id} ({where}) within {timeout}s; "
                f"live connections: {self.socket_connections()}; last messages: {received}"
            )
        with self._lock:
            return copy.deepcopy(self._socket_acks[envelope_id])

    def socket_ack_seconds(self, envelope_id: str) -> float | None:
        """Seconds (emulator clock) from sending the envelope to receiving its ack,
        as Slack measures its 3-second window; None while unacknowledged."""
        with self._lock:
            acked = self._socket_ack_times.get(envelope_id)
            sent = self._socket_envelopes.get(envelope_id)
        if acked is None or sent is None:
            return None
        return acked - float(sent["sent"])

    def _has_ack(self, envelope_id: str) -> bool:
        with self._lock:
            return envelope_id in self._socket_acks

    def socket_slash(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        command: str = "/hotfix",
        user_name: str | None = None,
        channel_name: str | None = None,
    ) -> tuple[str, str]:
        """Send a ``slash_commands`` envelope (``accepts_response_payload``
        true); the payload is the driver's slash-command fields, with a fresh
        response_url and trigger_id.  Returns ``(envelope_id, response_id)``.

        A payload in the app's ack is then shown as Slack shows an immediate
        slash-command response (see :meth:`ephemerals`), without counting as a
        response_url post."""
        request = self._payload_driver().slash_request(
            text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            user_name=user_name,
            channel_name=channel_name,
        )
        envelope_id = self._socket_deliver(
            "slash_commands",
            request.payload,
            accepts_response_payload=True,
            response_id=request.response_id,
        )
        return envelope_id, str(request.response_id)

    def socket_event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send an ``events_api`` envelope whose payload is the driver's
        ``event_callback`` document around ``event``.  Returns the envelope_id."""
        request = self._payload_driver().event_request(event, event_id=event_id)
        return self._socket_deliver(
            "events_api",
            request.payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    def socket_block_action(self, action_id: str, **options: Any) -> tuple[str, str | None]:
        """Send an ``interactive`` ``block_actions`` envelope
        (``accepts_response_payload`` false).  ``options`` are those of
        ``SlackDriver.block_action_request`` (value, user_id, channel_id,
        message_ts, view, ...).  Returns ``(envelope_id, response_id)``; the
        response_id is None for an action inside a view."""
        request = self._payload_driver().block_action_request(action_id, **options)
        envelope_id = self._socket_deliver(
            "interactive", request.payload, response_id=request.response_id
        )
        return envelope_id, request.response_id

    def socket_view_submission(self, callback_id: str, values: JSON, **options: Any) -> str:
        """Send an ``interactive`` ``view_submission`` envelope
        (``accepts_response_payload`` true: the ack may carry a
        ``response_action``).  ``options`` are those of
        ``SlackDriver.view_submission_request``.  Returns the envelope_id."""
        request = self._payload_driver().view_submission_request(callback_id, values, **options)
        return self._socket_deliver("interactive", request.payload, accepts_response_payload=True)

    def _payload_driver(self) -> Any:
        # Imported here: slack_driver imports this module.
        from tests.harness.slack_driver import SlackDriver

        return SlackDriver(
            bot_url="http://127.0.0.1:9/socket-mode-has-no-request-url",
            signing_secret="unused-in-socket-mode",
            emulator=self,
            team_id=self.team_id,
            clock=self.clock,
        )

    def _socket_deliver(
        self,
        envelope_type: str,
        payload: JSON,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
        response_id: str | None = None,
    ) -> str:
        envelope_id = str(uuid.uuid4())
        envelope: JSON = {
            "envelope_id": envelope_id,
            "payload": copy.deepcopy(payload),
            "type": envelope_type,
            "accepts_response_payload": bool(accepts_response_payload),
        }
        if envelope_type == "events_api":
            envelope["retry_attempt"] = int(retry_attempt)
            envelope["retry_reason"] = str(retry_reason)
        with self._lock:
            live = self._live_sessions()
            fresh = [s for s in live if s.disconnect_reason is None]
            if not live:
                raise AssertionError(
                    "no live Socket Mode connection to deliver to (use wait_for_socket first)"
                )
            session = (fresh or live)[-1]
            session.envelopes += 1
            self._socket_envelopes[envelope_id] = {
                "envelope": envelope,
                "session": session.id,
                "sent": self.clock(),
                "response_id": response_id,
            }
        if not session.ws.send_text(json.dumps(envelope)):
            raise AssertionError(f"Socket Mode connection {session.id} is closed")
        self._notify()
        return envelope_id

    def _apply_socket_ack(self, sent: JSON, ack: JSON) -> None:
        """A slash command's ack payload is shown like an immediate HTTP
        response; other ack payloads have no effect on the emulator's state."""
        envelope = sent["envelope"]
        payload = ack.get("payload")
        if envelope["type"] != "slash_commands" or not envelope["accepts_response_payload"]:
            return
        if not isinstance(payload, dict) or not payload:
            return
        resp = self._response_urls.get(sent.get("response_id") or "")
        if resp is not None:
            self._apply_response(resp, copy.deepcopy(payload))
