"""Who may call what, and when: tokens, scopes (``missing_scope``), ``auth.test``, the
published rate-limit tiers, and the failures tests inject (429s, errors, outages)."""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from tests.harness import slack_scopes
from tests.harness.slack_emulator.model import (
    _HTML_BODY,
    APP_METHOD_SCOPES,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    JSON,
    SlackError,
)
from tests.harness.slack_emulator.state import EmulatorState


class Admission(EmulatorState):
    """Decides whether a call is answered, and by which handler."""

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 429 + Retry-After."""
        with self._lock:
            self._rate_limits.setdefault(method, deque()).extend([retry_after] * times)

    def fail(self, method: str, error: str, *, times: int = 1, **extra: Any) -> None:
        """The next ``times`` calls to ``method`` answer ``ok: false, error``
        (plus ``extra`` fields), after authentication, without any effect."""
        with self._lock:
            self._failures.setdefault(method, deque()).extend([(error, dict(extra))] * times)

    def outage(self, status: int = 503, *, times: int | None = None, html: bool = False) -> None:
        """Answer every API call with HTTP ``status`` (5xx), for the next
        ``times`` calls, or until :meth:`end_outage` when ``times`` is None.
        ``html``: the body is an HTML error page, as the load balancers in front
        of an API answer when the service behind them is down, instead of
        Slack's JSON ``{"ok": false, "error": ...}``."""
        with self._lock:
            self._outage_status = status
            self._outage_remaining = times
            self._outage_html = html

    def end_outage(self) -> None:
        with self._lock:
            self._outage_status = 0
            self._outage_remaining = 0

    def _dispatch(
        self, method: str, args: JSON, token: str | None, body_error: str | None
    ) -> tuple[int, dict[str, str], JSON]:
        if self._outage_status and self._outage_remaining != 0:
            if self._outage_remaining is not None:
                self._outage_remaining -= 1
            if self._outage_html:
                page = (
                    f"<html><body><h1>{self._outage_status} Service Unavailable</h1></body></html>"
                )
                return self._outage_status, {"Content-Type": "text/html"}, {_HTML_BODY: page}
            error = "service_unavailable" if self._outage_status == 503 else "internal_error"
            return self._outage_status, {}, {"ok": False, "error": error}
        limits = self._rate_limits.get(method)
        if limits:
            retry_after = limits.popleft()
            return 429, {"Retry-After": str(retry_after)}, {"ok": False, "error": "ratelimited"}
        if self.rate_limits and token in (self.bot_token, self.app_token):
            wait = self._limiter.admit(token, method, args.get("channel"))
            if wait is not None:
                return 429, {"Retry-After": str(wait)}, {"ok": False, "error": "ratelimited"}
        app_handler = self._app_handlers.get(method)
        if app_handler is not None:
            return self._dispatch_app_method(method, app_handler, args, token, body_error)
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method", "req_method": method}
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.bot_token:
            if token == self.app_token:
                return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        scope_headers = {
            "X-OAuth-Scopes": ",".join(sorted(self._granted())),
            "X-Accepted-OAuth-Scopes": ",".join(sorted(slack_scopes.METHOD_SCOPES[method])),
        }
        if body_error:
            return 200, scope_headers, {"ok": False, "error": body_error}
        failures = self._failures.get(method)
        if failures:
            error, extra = failures.popleft()
            return 200, scope_headers, {"ok": False, "error": error, **extra}
        needed = slack_scopes.missing_scopes(method, self.scopes)
        if needed:
            return 200, scope_headers, self._missing_scope(needed)
        return 200, scope_headers, self._call_handler(handler, args)

    def _dispatch_app_method(
        self,
        method: str,
        handler: Callable[[JSON], JSON],
        args: JSON,
        token: str | None,
        body_error: str | None,
    ) -> tuple[int, dict[str, str], JSON]:
        """An app-level method: only the app token (xapp-) is accepted."""
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.app_token:
            if token == self.bot_token:
                return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        accepted = APP_METHOD_SCOPES[method]
        scope_headers = {
            "X-OAuth-Scopes": ",".join(sorted(self.app_scopes)),
            "X-Accepted-OAuth-Scopes": ",".join(sorted(accepted)),
        }
        if body_error:
            return 200, scope_headers, {"ok": False, "error": body_error}
        failures = self._failures.get(method)
        if failures:
            error, extra = failures.popleft()
            return 200, scope_headers, {"ok": False, "error": error, **extra}
        if accepted and not accepted & self.app_scopes:
            missing: JSON = {
                "ok": False,
                "error": "missing_scope",
                "needed": ",".join(sorted(accepted)),
                "provided": ",".join(sorted(self.app_scopes)),
            }
            return 200, scope_headers, missing
        return 200, scope_headers, self._call_handler(handler, args)

    @staticmethod
    def _call_handler(handler: Callable[[JSON], JSON], args: JSON) -> JSON:
        try:
            response = handler(args)
        except SlackError as exc:
            response = {"ok": False, "error": exc.error, **exc.extra}
        except Exception as exc:  # a bug in the emulator: say so loudly
            response = {
                "ok": False,
                "error": "internal_error",
                "emulator_exception": f"{type(exc).__name__}: {exc}",
                "emulator_traceback": traceback.format_exc(),
            }
        return response

    def _granted(self) -> frozenset[str]:
        return slack_scopes.ALL_SCOPES if self.scopes is None else self.scopes

    def _missing_scope(self, needed: Iterable[str]) -> JSON:
        return {
            "ok": False,
            "error": "missing_scope",
            "needed": ",".join(sorted(needed)),
            "provided": ",".join(sorted(self._granted())),
        }

    def _missing_scope_error(self, needed: Iterable[str]) -> SlackError:
        answer = self._missing_scope(needed)
        return SlackError("missing_scope", needed=answer["needed"], provided=answer["provided"])

    def _require_kind_scope(self, method: str, kind: str) -> None:
        needed = slack_scopes.missing_conversation_scopes(method, kind, self.scopes)
        if needed:
            raise self._missing_scope_error(needed)

    def _auth_test(self, a: JSON) -> JSON:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }
