"""A Statuspage (Atlassian Statuspage API v1) emulator: a real HTTP server on localhost.

Follows the published API reference (developer.statuspage.io; the OpenAPI-generated
models `PostPagesPageIdIncidentsIncident`, `PatchPagesPageIdIncidentsIncident`,
`Incident`, `IncidentUpdate`, `Component`, `ErrorEntity`), not what the bot sends:

- `Authorization: OAuth <key>`; no key or an unknown one: 401 with an ErrorEntity body
  (`{"message": …}`); a page the key may not see, or no such page / incident: 404.
- POST /v1/pages/{page_id}/incidents `{"incident": {name, status, body, component_ids,
  components: {id: status}, metadata, deliver_notifications…}}` → 201 with the incident
  (`incident_updates` newest first, `components`, `shortlink`, `metadata`).
- PATCH /v1/pages/{page_id}/incidents/{incident_id}: a `body` or a new `status` adds an
  incident update; `components` changes the components' statuses; `metadata` merges by
  top-level key.
- GET /v1/pages/{page_id}/incidents/{incident_id}, GET …/incidents/unresolved (a JSON array,
  `page` / `per_page`).
- 422 with `{"message": …}` for what the reference forbids: no name, a name over 255 or a
  body over 25,000 characters, an unknown status, a component of another page, a component
  status not in the list, metadata whose top-level values are not objects.
- The rate limit: "Each API token is limited to 1 request / second as measured on a 60
  second rolling window … Error codes 420 or 429 indicate that you have exceeded the rate
  limit and the request has been rejected" — `limit` requests per `window` seconds per key,
  answered with `rate_limit_status` (429 by default, or 420) and a Retry-After header.

Every request is recorded (`requests`) for the tests' assertions; `fail_next` makes the
next requests answer 5xx (the page is down).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
COMPONENT_STATUSES = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
_PATH = re.compile(r"^/v1/pages/([^/]+)/incidents(?:/([^/?]+))?$")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    content_type: str | None
    body: Any
    status: int  # what the emulator answered

    @property
    def incident(self) -> JSON:
        """The request's `incident` object (POST / PATCH)."""
        value = self.body.get("incident") if isinstance(self.body, dict) else None
        return value if isinstance(value, dict) else {}


@dataclass
class _Page:
    id: str
    components: dict[str, JSON] = field(default_factory=dict)
    incidents: dict[str, JSON] = field(default_factory=dict)


class _Refusal(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _new_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


class StatuspageEmulator:
    def __init__(
        self,
        *,
        api_keys: tuple[str, ...] = ("sp-test-key",),
        limit: int = 60,
        window: float = 60.0,
        rate_limit_status: int = 429,
        clock: Callable[[], float] = time.monotonic,
        keeps_metadata: bool = True,
    ) -> None:
        self.api_keys = set(api_keys)
        # False: a compatible self-hosted page that accepts metadata and keeps none.
        self.keeps_metadata = keeps_metadata
        self.limit = limit
        self.window = window
        self.rate_limit_status = rate_limit_status
        self.clock = clock
        self.pages: dict[str, _Page] = {}
        self.requests: list[Recorded] = []
        self.rate_limited = 0  # requests refused with 420 / 429
        self._recent: dict[str, deque[float]] = {}
        self._failures: deque[int] = deque()
        self._fail_after_acting: deque[int] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._updates = itertools.count(1)

    # -- set-up -------------------------------------------------------------------

    def add_page(self, page_id: str, components: dict[str, str]) -> None:
        """A page and its components ({component id: name}), all operational."""
        page = _Page(page_id)
        now = _now()
        for position, (component_id, name) in enumerate(components.items(), 1):
            page.components[component_id] = {
                "id": component_id,
                "page_id": page_id,
                "group_id": None,
                "created_at": now,
                "updated_at": now,
                "group": False,
                "name": name,
                "description": None,
                "position": position,
                "status": "operational",
                "showcase": True,
                "only_show_if_degraded": False,
                "automation_email": f"component+{component_id}@notifications.statuspage.io",
                "start_date": None,
            }
        self.pages[page_id] = page

    def fail_after_acting(self, status: int = 504) -> None:
        """The next write is applied, then answered `status` (a gateway that timed out
        waiting for a page that did act): the client cannot know the write happened."""
        with self._lock:
            self._fail_after_acting.append(status)

    def fail_next(self, status: int = 503, count: int = 1) -> None:
        """The next `count` requests answer `status` (the page is down)."""
        with self._lock:
            self._failures.extend([status] * count)

    def component_status(self, page_id: str, component_id: str) -> str:
        return str(self.pages[page_id].components[component_id]["status"])

    def incidents(self, page_id: str) -> list[JSON]:
        with self._lock:
            return [json.loads(json.dumps(i)) for i in self.pages[page_id].incidents.values()]

    def writes(self) -> list[Recorded]:
        """The POST and PATCH requests that were taken (2xx), in order."""
        return [r for r in self.requests if r.method in ("POST", "PATCH") and r.status < 300]

    # -- server -------------------------------------------------------------------

    def start(self) -> StatuspageEmulator:
        handler = type("_Bound", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="statuspage-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> StatuspageEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- requests -----------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        authorization = headers.get("authorization")
        content_type = headers.get("content-type")
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            try:
                status, answer = self._answer(method, parts.path, query, authorization, body)
                extra: dict[str, str] = {}
                if method in ("POST", "PATCH") and status < 300 and self._fail_after_acting:
                    status, answer = self._fail_after_acting.popleft(), {"message": "Gateway"}
            except _Refusal as refusal:
                status, answer, extra = (
                    refusal.status,
                    {"message": refusal.message},
                    refusal.headers,
                )
            self.requests.append(
                Recorded(method, parts.path, query, authorization, content_type, body, status)
            )
        return status, answer, extra

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        authorization: str | None,
        body: Any,
    ) -> tuple[int, Any]:
        if self._failures:
            raise _Refusal(self._failures.popleft(), "Service Unavailable")
        key = self._authenticate(authorization)
        self._count(key)
        match = _PATH.match(path)
        if match is None:
            raise _Refusal(404, "The requested resource could not be found.")
        page = self.pages.get(match.group(1))
        if page is None:
            raise _Refusal(404, "The requested resource could not be found.")
        tail = match.group(2)
        if tail == "unresolved" and method == "GET":
            return 200, self._unresolved(page, query)
        if tail is None and method == "POST":
            return 201, self._create(page, _incident_of(body))
        if tail is not None and tail != "unresolved":
            incident = page.incidents.get(tail)
            if incident is None:
                raise _Refusal(404, "The requested resource could not be found.")
            if method == "GET":
                return 200, incident
            if method in ("PATCH", "PUT"):
                return 200, self._update(page, incident, _incident_of(body))
        raise _Refusal(405, "Method Not Allowed")

    def _authenticate(self, authorization: str | None) -> str:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme != "OAuth" or key.strip() not in self.api_keys:
            raise _Refusal(401, "Could not authenticate")
        return key.strip()

    def _count(self, key: str) -> None:
        """`limit` requests per `window` seconds per key, as a rolling window."""
        now = self.clock()
        recent = self._recent.setdefault(key, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.limit:
            self.rate_limited += 1
            oldest = recent[0] if recent else now
            wait = max(1, math.ceil(oldest + self.window - now))
            raise _Refusal(
                self.rate_limit_status,
                "Rate limit exceeded. Please slow down.",
                {"Retry-After": str(wait)},
            )
        recent.append(now)

    # -- incidents ----------------------------------------------------------------

    def _validate(self, page: _Page, fields: JSON, *, creating: bool) -> None:
        name = fields.get("name")
        if creating and not (isinstance(name, str) and name.strip()):
            raise _Refusal(422, "Name can't be blank")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            raise _Refusal(422, "Name is too long (maximum is 255 characters)")
        status = fields.get("status")
        if status is not None and status not in INCIDENT_STATUSES:
            raise _Refusal(422, f"Status {str(status)[:40]!r} is not a valid incident status")
        body = fields.get("body")
        if body is not None and (not isinstance(body, str) or len(body) > 25000):
            raise _Refusal(422, "Body is too long (maximum is 25000 characters)")
        ids = fields.get("component_ids") or []
        statuses = fields.get("components") or {}
        if not isinstance(ids, list) or not isinstance(statuses, dict):
            raise _Refusal(422, "component_ids must be a list and components a map")
        for component_id in [*ids, *statuses]:
            if component_id not in page.components:
                raise _Refusal(422, f"Component {str(component_id)[:40]!r} is not on this page")
        for value in statuses.values():
            if value not in COMPONENT_STATUSES:
                raise _Refusal(422, f"Component status {str(value)[:40]!r} is not valid")
        metadata = fields.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not all(isinstance(v, dict) for v in metadata.values())
        ):
            raise _Refusal(422, "All top-level values in metadata must be objects")

    def _create(self, page: _Page, fields: JSON) -> JSON:
        self._validate(page, fields, creating=True)
        now = _now()
        incident_id = _new_id()
        incident: JSON = {
            "id": incident_id,
            "page_id": page.id,
            "name": fields["name"],
            "status": fields.get("status") or "investigating",
            "impact": "none",
            "impact_override": fields.get("impact_override"),
            "created_at": now,
            "updated_at": now,
            "monitoring_at": None,
            "resolved_at": None,
            "shortlink": f"https://stspg.io/{secrets.token_hex(4)}",
            "metadata": dict(fields.get("metadata") or {}) if self.keeps_metadata else {},
            "components": [],
            "incident_updates": [],
            "postmortem_body": None,
        }
        page.incidents[incident_id] = incident
        self._apply(page, incident, fields, new_update=True)
        return incident

    def _update(self, page: _Page, incident: JSON, fields: JSON) -> JSON:
        self._validate(page, fields, creating=False)
        if "name" in fields:
            incident["name"] = fields["name"]
        if isinstance(fields.get("metadata"), dict) and self.keeps_metadata:
            incident["metadata"] = {**incident["metadata"], **fields["metadata"]}
        new_status = fields.get("status")
        adds = bool(fields.get("body")) or (new_status and new_status != incident["status"])
        self._apply(page, incident, fields, new_update=bool(adds))
        return incident

    def _apply(self, page: _Page, incident: JSON, fields: JSON, *, new_update: bool) -> None:
        now = _now()
        status = fields.get("status") or incident["status"]
        incident["status"] = status
        incident["updated_at"] = now
        if status == "monitoring" and not incident["monitoring_at"]:
            incident["monitoring_at"] = now
        if status == "resolved" and not incident["resolved_at"]:
            incident["resolved_at"] = now
        affected = []
        statuses: JSON = fields.get("components") or {}
        for component_id in [*(fields.get("component_ids") or []), *statuses]:
            component = page.components[component_id]
            old = component["status"]
            new = statuses.get(component_id, old)
            component["status"] = new
            component["updated_at"] = now
            affected.append(
                {
                    "code": component_id,
                    "name": component["name"],
                    "old_status": old,
                    "new_status": new,
                }
            )
            if all(c["id"] != component_id for c in incident["components"]):
                incident["components"].append(component)
        if new_update:
            update_id = f"upd{next(self._updates):09d}"
            incident["incident_updates"].insert(
                0,
                {
                    "id": update_id,
                    "incident_id": incident["id"],
                    "status": status,
                    "body": fields.get("body") or "",
                    "created_at": now,
                    "updated_at": now,
                    "display_at": now,
                    "affected_components": affected or None,
                    "deliver_notifications": fields.get("deliver_notifications", True),
                    "custom_tweet": None,
                    "tweet_id": None,
                },
            )

    def _unresolved(self, page: _Page, query: dict[str, list[str]]) -> list[JSON]:
        number = int((query.get("page") or ["1"])[0])
        per_page = int((query.get("per_page") or ["100"])[0])
        open_ones = [i for i in page.incidents.values() if i["status"] != "resolved"]
        open_ones.sort(key=lambda i: str(i["created_at"]), reverse=True)
        return open_ones[(number - 1) * per_page : number * per_page]


def _incident_of(body: Any) -> JSON:
    incident = body.get("incident") if isinstance(body, dict) else None
    if not isinstance(incident, dict):
        raise _Refusal(422, "incident is missing or not an object")
    return incident


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    emulator: StatuspageEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer, extra = self.emulator.handle(self.command, self.path, headers, raw)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = _serve
