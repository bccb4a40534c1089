"""A stateful emulator of the Slack Web API on a localhost port.

The bot talks to it with the real ``slack_sdk.WebClient(base_url=emulator.api_url)``
over real HTTP, so every request goes through the SDK's encoding (JSON bodies
for chat.* and views.*, form bodies or query strings for the rest) exactly as
it would against slack.com.

What it keeps faithful to Slack's documented behaviour:

* API errors are HTTP 200 with ``{"ok": false, "error": "..."}``; rate limits
  are HTTP 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``.
  With ``rate_limits=True`` each method is held to its published tier per token
  on the emulator clock (``tests/harness/slack_rate_limits.py``); otherwise only
  :meth:`SlackEmulator.rate_limit` answers 429.
* Arguments come from the query string, a form body (structured arguments such
  as ``blocks`` are JSON strings inside it), a multipart body, or a JSON body.
  A JSON body's arguments are ignored by read methods (see
  ``slack_scopes.READ_METHODS``) and its ``token`` is never read: a JSON call
  must authenticate with ``Authorization: Bearer``.
* Scopes: a token built with a limited scope set gets ``missing_scope`` (with
  ``needed`` and ``provided``), refined by conversation kind for the
  Conversations API; responses carry ``X-OAuth-Scopes``.
* Visibility: a private channel (or DM) the bot is not a member of does not
  exist for it (``channel_not_found``), as on Slack; a public channel the bot
  is not in answers ``not_in_channel`` to posting unless ``chat:write.public``
  is granted, and to history reads.

Deliberate simplifications (documented so tests do not rely on them): no
system messages (joins, topic changes) are posted into channels; file shares
happen synchronously; an unknown ``thread_ts`` is refused with
``thread_not_found`` instead of creating an orphan reply.

Waiting: :meth:`SlackEmulator.wait_for` returns a bool (True when the predicate
held before the timeout); :meth:`wait_for_call` and :meth:`wait_for_response`
return the matching records and raise ``AssertionError`` on timeout.

Socket Mode (``apps.connections.open`` plus a WebSocket endpoint on the same
port, see ``tests/harness/socket_mode.py`` for the RFC 6455 side):

* ``apps.connections.open`` needs the APP-level token (``app_token``, scope
  ``connections:write``): the bot token gets ``not_allowed_token_type``, a
  wrong one ``invalid_auth``, none ``not_authed``; the app token used on a
  bot-token method gets ``not_allowed_token_type`` too.  The answer's
  ``url`` is ``ws://127.0.0.1:PORT/socket-mode/<ticket>``.
* On connect the app gets ``hello``; the emulator answers pings with pongs and
  pings the app every ``socket_ping_interval`` seconds (Slack pings too).
* Tests push envelopes with :meth:`SlackEmulator.socket_send` (or the
  ``socket_slash`` / ``socket_event`` / ``socket_block_action`` /
  ``socket_view_submission`` builders, which reuse the driver's payload
  shapes) and read the app's acknowledgement with :meth:`socket_ack`.  As on
  Slack, ``retry_attempt`` / ``retry_reason`` appear only on ``events_api``
  envelopes, and the payload of a slash command's ack is shown like an
  immediate HTTP response (ephemeral to the invoking user unless
  ``response_type`` is ``in_channel``); other ack payloads are only recorded.
* Reconnects: :meth:`SlackEmulator.socket_disconnect` sends ``disconnect``
  (``refresh_requested``, ``warning``...) and, with ``close_after``, closes
  the old connection that many seconds later, as Slack does; envelopes go to
  the newest connection that was not told to disconnect.
  :meth:`SlackEmulator.socket_drop_silently` cuts a connection off like a dead
  network path (no answers, no close frame, TCP left open).
* Simplifications: a ticket URL may be connected to more than once and does
  not expire; unacknowledged envelopes are never retried; Slack's limit of
  10 connections per app is not enforced.

Layout: one module per API family, each a mixin over
:class:`~tests.harness.slack_emulator.state.EmulatorState` (the state and its lock):
``chat`` (chat.*, reactions.*), ``conversations``, ``users`` (users.*, usergroups.*),
``views``, ``files`` (files.*, bookmarks.*, pins.*), ``auth`` (tokens, scopes, rate limits,
injected failures), ``responses`` (response_url), ``sockets`` / ``socket_envelopes``
(Socket Mode), ``server`` (HTTP and routing); ``emulator`` composes them and holds the
method table.
"""

from tests.harness.slack_emulator.emulator import SlackEmulator
from tests.harness.slack_emulator.model import (
    APP_ID,
    APP_TOKEN,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    JSON,
    ApiCall,
    ResponsePost,
    SlackError,
)

__all__ = [
    "APP_ID",
    "APP_TOKEN",
    "BOT_ID",
    "BOT_NAME",
    "BOT_USER_ID",
    "JSON",
    "ApiCall",
    "ResponsePost",
    "SlackEmulator",
    "SlackError",
]
