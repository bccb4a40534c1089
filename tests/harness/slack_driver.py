"""Sends Slack-signed requests to the bot's HTTP endpoint, the way Slack does.

Each request is built from Slack's documented payload shapes (slash command
form fields, ``payload=<json>`` interactivity forms, Events API JSON
envelopes), signed with the v0 scheme::

    X-Slack-Request-Timestamp: <unix seconds>
    X-Slack-Signature: v0=<hex HMAC-SHA256(signing_secret, "v0:<ts>:<raw body>")>

and POSTed with the standard library.  Response URLs and trigger ids come from
the :class:`~tests.harness.slack_emulator.SlackEmulator`, so what the bot does
with them lands in the emulator's state.

Every ``send``-style method accepts the same options:

``secret=``       sign with another secret (a forged request)
``timestamp=``    sign with this timestamp (e.g. a stale one)
``sign=False``    send no signature headers at all
``retry_num=`` / ``retry_reason=``   add ``X-Slack-Retry-Num`` / ``-Reason``
``headers=``      extra headers
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.harness.slack_emulator import APP_ID, BOT_ID, BOT_USER_ID, SlackEmulator

JSON = dict[str, Any]

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` with ``secret``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SlackRequest:
    """A request ready to be sent: exact body bytes and headers."""

    body: bytes
    headers: Mapping[str, str]
    payload: Any  # what was encoded (form fields dict, or the JSON document)
    response_id: str | None = None
    trigger_id: str | None = None


@dataclass(frozen=True)
class DriverResult:
    """The bot's answer, plus everything needed to replay the same request."""

    status: int
    headers: Mapping[str, str]
    body: str
    json: Any  # parsed body when it was JSON, else None
    raw_body: bytes  # exactly the bytes that were sent
    request_headers: Mapping[str, str]  # exactly the headers that were sent
    payload: Any
    response_id: str | None = None  # for emulator.responses(...)
    trigger_id: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


class SlackDriver:
    """Plays Slack's side of slash commands, interactivity and events."""

    def __init__(
        self,
        *,
        bot_url: str,
        signing_secret: str,
        emulator: SlackEmulator,
        team_id: str = "T0TEAM",
        clock: Callable[[], float] = time.time,
        verification_token: str = "verification-token-test",
        api_app_id: str = APP_ID,
        team_domain: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.bot_url = bot_url
        self.signing_secret = signing_secret
        self.emulator = emulator
        self.team_id = team_id
        self.clock = clock
        self.verification_token = verification_token
        self.api_app_id = api_app_id
        self.team_domain = team_domain or emulator.team_domain
        self.timeout = timeout

    # -------------------------------------------------------------- signing

    def sign(
        self,
        body: bytes,
        *,
        secret: str | None = None,
        timestamp: int | str | None = None,
    ) -> dict[str, str]:
        """The two signature headers for ``body``."""
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": slack_signature(secret or self.signing_secret, ts, body),
        }

    def _headers(
        self,
        body: bytes,
        content_type: str,
        *,
        secret: str | None = None,
        timestamp: int | str | None = None,
        sign: bool = True,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        out = {"Content-Type": content_type, "User-Agent": USER_AGENT, "Accept": "*/*"}
        if sign:
            out.update(self.sign(body, secret=secret, timestamp=timestamp))
        if retry_num is not None:
            out["X-Slack-Retry-Num"] = str(retry_num)
            out["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        if headers:
            out.update(headers)
        return out

    # --------------------------------------------------------------- helpers

    def _user(self, user_id: str, user_name: str | None = None) -> JSON:
        known = self.emulator.user(user_id)
        name = user_name or (known["name"] if known else user_id.lower())
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _channel_name(self, channel_id: str, channel_name: str | None = None) -> str:
        if channel_name:
            return channel_name
        known = self.emulator.channel(channel_id)
        if known is None:
            return "unknown"
        if known.get("is_im"):
            return "directmessage"
        if known.get("is_mpim"):
            return "mpdm"
        if known.get("is_private"):
            return "privategroup"
        return str(known["name"])

    def _team(self) -> JSON:
        return {"id": self.team_id, "domain": self.team_domain}

    def _action_ts(self) -> str:
        now = self.clock()
        return f"{now:.6f}"

    def _find_block_id(self, message: JSON | None, view: JSON | None, action_id: str) -> str:
        blocks: list[Any] = []
        if message:
            blocks.extend(message.get("blocks") or [])
        if view:
            blocks.extend(view.get("blocks") or [])
        for block in blocks:
            if not isinstance(block, dict):
                continue
            elements = list(block.get("elements") or [])
            for key in ("accessory", "element"):
                if isinstance(block.get(key), dict):
                    elements.append(block[key])
            if any(isinstance(e, dict) and e.get("action_id") == action_id for e in elements):
                return str(block.get("block_id") or "")
        return "actions"

    # ----------------------------------------------------------- builders

    def slash_request(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        command: str = "/hotfix",
        user_name: str | None = None,
        channel_name: str | None = None,
    ) -> SlackRequest:
        """An unsigned slash-command request (form fields as Slack sends them)."""
        response_id, response_url = self.emulator.new_response_url(
            channel_id=channel_id, user_id=user_id
        )
        trigger_id = self.emulator.new_trigger_id(user_id)
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id, channel_name),
            "user_id": user_id,
            "user_name": self._user(user_id, user_name)["username"],
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        return SlackRequest(
            body=urlencode(list(fields.items())).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            payload=fields,
            response_id=response_id,
            trigger_id=trigger_id,
        )

    def block_action_request(
        self,
        action_id: str,
        *,
        value: str | None = None,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        message_ts: str | None = None,
        block_id: str | None = None,
        view: JSON | str | None = None,
        selected_user: str | None = None,
        selected_option: JSON | None = None,
        container: JSON | None = None,
        action_type: str | None = None,
        user_name: str | None = None,
        state: JSON | None = None,
    ) -> SlackRequest:
        """An unsigned ``block_actions`` request (``payload=<json>`` form).

        ``view`` (a view dict or a view id known to the emulator) makes it an
        action inside a modal / home tab: no channel, message or response_url,
        as Slack sends it.  Otherwise the action comes from a message in
        ``channel_id`` (the emulator's copy of ``message_ts`` is included).
        """
        trigger_id = self.emulator.new_trigger_id(user_id)
        view_obj: JSON | None
        if isinstance(view, str):
            view_obj = self.emulator.view(view)
            if view_obj is None:
                raise KeyError(f"unknown view {view}")
        else:
            view_obj = view
        message: JSON | None = None
        if message_ts is not None:
            message = self.emulator.message(channel_id, message_ts) or {
                "type": "message",
                "ts": message_ts,
                "text": "",
                "user": BOT_USER_ID,
            }
        if action_type is None:
            if selected_user is not None:
                action_type = "users_select"
            elif selected_option is not None:
                action_type = "static_select"
            else:
                action_type = "button"
        action: JSON = {
            "action_id": action_id,
            "block_id": block_id or self._find_block_id(message, view_obj, action_id),
            "type": action_type,
            "action_ts": self._action_ts(),
        }
        if selected_user is not None:
            action["selected_user"] = selected_user
        if selected_option is not None:
            action["selected_option"] = selected_option
        if value is not None:
            action["value"] = value
        if action_type == "button":
            action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
        payload: JSON = {
            "type": "block_actions",
            "user": self._user(user_id, user_name),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "state": state or {"values": {}},
            "actions": [action],
        }
        response_id: str | None = None
        if view_obj is not None:
            payload["container"] = container or {
                "type": "view",
                "view_id": view_obj.get("id"),
            }
            payload["view"] = view_obj
        else:
            response_id, response_url = self.emulator.new_response_url(
                channel_id=channel_id, user_id=user_id, message_ts=message_ts
            )
            if container is None:
                container = {"type": "message", "channel_id": channel_id, "is_ephemeral": False}
                if message_ts is not None:
                    container["message_ts"] = message_ts
                else:
                    container["is_ephemeral"] = True
            payload["container"] = container
            payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
            if message is not None:
                payload["message"] = message
            payload["response_url"] = response_url
        fields = {"payload": json.dumps(payload)}
        return SlackRequest(
            body=urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            payload=payload,
            response_id=response_id,
            trigger_id=trigger_id,
        )

    def _view_payload(
        self,
        callback_id: str,
        values: JSON,
        *,
        private_metadata: str | None,
        view_id: str | None,
    ) -> JSON:
        stored = self.emulator.view(view_id) if view_id else None
        if view_id and stored is None:
            raise KeyError(f"unknown view {view_id}")
        base: JSON = stored or {
            "id": f"V0{secrets.token_hex(4).upper()}",
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "title": {"type": "plain_text", "text": "Modal"},
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit"},
            "private_metadata": "",
            "callback_id": callback_id,
            "external_id": "",
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "app_id": self.api_app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        view = dict(base)
        view.setdefault("root_view_id", view["id"])
        view["callback_id"] = callback_id
        if private_metadata is not None:
            view["private_metadata"] = private_metadata
        view["state"] = {"values": values}
        return view

    def view_submission_request(
        self,
        callback_id: str,
        values: JSON,
        *,
        user_id: str = "U0ALICE",
        private_metadata: str | None = None,
        view_id: str | None = None,
        user_name: str | None = None,
    ) -> SlackRequest:
        """An unsigned ``view_submission``.  ``values`` is Slack's
        ``state.values`` shape: ``{block_id: {action_id: {"type": ..., "value": ...}}}``.
        With ``view_id`` the emulator's stored view is the base."""
        trigger_id = self.emulator.new_trigger_id(user_id)
        payload: JSON = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id, user_name),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id,
            "view": self._view_payload(
                callback_id, values, private_metadata=private_metadata, view_id=view_id
            ),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        fields = {"payload": json.dumps(payload)}
        return SlackRequest(
            body=urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            payload=payload,
            trigger_id=trigger_id,
        )

    def view_closed_request(
        self,
        callback_id: str,
        *,
        user_id: str = "U0ALICE",
        private_metadata: str | None = None,
        view_id: str | None = None,
        is_cleared: bool = False,
    ) -> SlackRequest:
        payload: JSON = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "view": self._view_payload(
                callback_id, {}, private_metadata=private_metadata, view_id=view_id
            ),
            "is_cleared": is_cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        fields = {"payload": json.dumps(payload)}
        return SlackRequest(
            body=urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            payload=payload,
        )

    def event_request(self, event: JSON, *, event_id: str | None = None) -> SlackRequest:
        """An unsigned Events API ``event_callback`` envelope (JSON)."""
        now = self.clock()
        inner = dict(event)
        inner.setdefault("event_ts", f"{now:.6f}")
        envelope: JSON = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev0{secrets.token_hex(5).upper()}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        return SlackRequest(
            body=json.dumps(envelope).encode(),
            headers={"Content-Type": "application/json"},
            payload=envelope,
        )

    def url_verification_request(self, challenge: str) -> SlackRequest:
        document = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return SlackRequest(
            body=json.dumps(document).encode(),
            headers={"Content-Type": "application/json"},
            payload=document,
        )

    # ------------------------------------------------------------- senders

    def send(
        self,
        request: SlackRequest,
        *,
        secret: str | None = None,
        timestamp: int | str | None = None,
        sign: bool = True,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> DriverResult:
        """Sign (unless ``sign=False``) and POST a built request."""
        all_headers = self._headers(
            request.body,
            request.headers["Content-Type"],
            secret=secret,
            timestamp=timestamp,
            sign=sign,
            retry_num=retry_num,
            retry_reason=retry_reason,
            headers=headers,
        )
        return self._post(
            request.body,
            all_headers,
            payload=request.payload,
            response_id=request.response_id,
            trigger_id=request.trigger_id,
        )

    def slash(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        command: str = "/hotfix",
        user_name: str | None = None,
        channel_name: str | None = None,
        **opts: Any,
    ) -> DriverResult:
        request = self.slash_request(
            text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            user_name=user_name,
            channel_name=channel_name,
        )
        return self.send(request, **opts)

    def block_action(
        self,
        action_id: str,
        *,
        value: str | None = None,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        message_ts: str | None = None,
        block_id: str | None = None,
        view: JSON | str | None = None,
        selected_user: str | None = None,
        selected_option: JSON | None = None,
        container: JSON | None = None,
        action_type: str | None = None,
        **opts: Any,
    ) -> DriverResult:
        request = self.block_action_request(
            action_id,
            value=value,
            user_id=user_id,
            channel_id=channel_id,
            message_ts=message_ts,
            block_id=block_id,
            view=view,
            selected_user=selected_user,
            selected_option=selected_option,
            container=container,
            action_type=action_type,
        )
        return self.send(request, **opts)

    def view_submission(
        self,
        callback_id: str,
        values: JSON,
        *,
        user_id: str = "U0ALICE",
        private_metadata: str | None = None,
        view_id: str | None = None,
        **opts: Any,
    ) -> DriverResult:
        request = self.view_submission_request(
            callback_id,
            values,
            user_id=user_id,
            private_metadata=private_metadata,
            view_id=view_id,
        )
        return self.send(request, **opts)

    def view_closed(
        self,
        callback_id: str,
        *,
        user_id: str = "U0ALICE",
        private_metadata: str | None = None,
        view_id: str | None = None,
        **opts: Any,
    ) -> DriverResult:
        request = self.view_closed_request(
            callback_id, user_id=user_id, private_metadata=private_metadata, view_id=view_id
        )
        return self.send(request, **opts)

    def event(self, event: JSON, *, event_id: str | None = None, **opts: Any) -> DriverResult:
        return self.send(self.event_request(event, event_id=event_id), **opts)

    def url_verification(self, challenge: str, **opts: Any) -> DriverResult:
        return self.send(self.url_verification_request(challenge), **opts)

    def replay(
        self,
        result: DriverResult,
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        resign: bool = False,
        timestamp: int | str | None = None,
    ) -> DriverResult:
        """Send the SAME body (same trigger id, response_url, event_id) again.

        The original headers are reused byte for byte unless ``resign=True``
        (or a ``timestamp`` is given), which signs the same body anew.
        ``retry_num`` adds Slack's retry headers, as on an automatic retry.
        """
        headers = dict(result.request_headers)
        if resign or timestamp is not None:
            headers.update(self.sign(result.raw_body, timestamp=timestamp))
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return self._post(
            result.raw_body,
            headers,
            payload=result.payload,
            response_id=result.response_id,
            trigger_id=result.trigger_id,
        )

    def _post(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        payload: Any,
        response_id: str | None,
        trigger_id: str | None,
    ) -> DriverResult:
        url = urlsplit(self.bot_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"bot_url must be http://host:port/path, got {self.bot_url!r}")
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        started = time.monotonic()
        connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=self.timeout)
        try:
            connection.request("POST", path, body=body, headers=dict(headers))
            response = connection.getresponse()
            raw = response.read()
            status = response.status
            answer_headers = {k: v for k, v in response.getheaders()}
        finally:
            connection.close()
        text = raw.decode("utf-8", "replace")
        parsed: Any = None
        if text:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        return DriverResult(
            status=status,
            headers=answer_headers,
            body=text,
            json=parsed,
            raw_body=body,
            request_headers=dict(headers),
            payload=payload,
            response_id=response_id,
            trigger_id=trigger_id,
            elapsed=time.monotonic() - started,
        )
