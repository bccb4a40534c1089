"""HTTP: the threaded server, routing of API paths, discovery, content types, ``/scale``."""

from __future__ import annotations

import copy
import json
import socket
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tests.harness.k8s.errors import ApiError, conflict
from tests.harness.k8s.labels import selector_string
from tests.harness.k8s.patches import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from tests.harness.k8s.records import SESSION_REQUESTS, RecordedRequest
from tests.harness.k8s.resources import BY_PATH, ROLLOUTS, TYPES, ResourceType
from tests.harness.k8s.state import EmulatorState

if TYPE_CHECKING:
    from tests.harness.k8s.emulator import K8sEmulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Headers and body are separate writes: without TCP_NODELAY each keep-alive answer
    # waits for the peer's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.connections.discard(self.connection)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        code, payload = self.server.emulator._serve_http(
            self.command,
            self.path,
            self.headers.get("Content-Type"),
            raw,
            user_agent=self.headers.get("User-Agent"),
        )
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, emulator: K8sEmulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)


class HttpMixin(EmulatorState):
    """From an HTTP request to a store operation, and the ``Status`` answered on failure."""

    def _serve_http(
        self,
        method: str,
        target: str,
        content_type: str | None,
        raw: bytes,
        *,
        user_agent: str | None = None,
    ) -> tuple[int, Any]:
        split = urlsplit(target)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        body: Any = None
        parse_error: str | None = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                body = raw.decode("utf-8", "replace")
                parse_error = str(exc)
        with self._lock:
            saved = self._snapshot() if query.get("dryRun") == "All" else None
            try:
                code, payload = self._failure_for(method, path) or self._route(
                    method, path, query, content_type, body, parse_error
                )
            except ApiError as exc:
                code, payload = exc.code, exc.status()
            except Exception:
                self.errors.append(traceback.format_exc())
                code, payload = 500, ApiError(500, traceback.format_exc(limit=3)).status()
            finally:
                if saved is not None:  # dryRun=All: answer as if written, keep nothing
                    self._restore(saved)
            recorded = RecordedRequest(method, path, query, content_type, body, code, user_agent)
            self._requests.append(recorded)
            SESSION_REQUESTS.append(recorded)
        return code, payload

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            dict(self._objects),
            self._rv,
            copy.deepcopy(self._scripts),
            dict(self._pod_order),
            set(self._proven),
            copy.deepcopy(self._rollout_scripts),
        )

    def _restore(self, saved: tuple[Any, ...]) -> None:
        (
            self._objects,
            self._rv,
            self._scripts,
            self._pod_order,
            self._proven,
            self._rollout_scripts,
        ) = saved

    def _failure_for(self, method: str, path: str) -> tuple[int, Any] | None:
        for failure in self._failures:
            if failure.method == method.upper() and failure.path.search(path):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                error = ApiError(failure.code, failure.message, reason=failure.reason)
                return failure.code, error.status()
        return None

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        content_type: str | None,
        body: Any,
        parse_error: str | None,
    ) -> tuple[int, Any]:
        if method == "GET" and (discovery := self._discovery(path)) is not None:
            return 200, discovery
        rt, namespace, name, sub = self._parse_path(path)
        if query.get("watch") in ("true", "1"):
            raise ApiError(405, "watch is not supported by the emulator; poll instead")
        media = (content_type or "").split(";")[0].strip().lower()
        if method in ("POST", "PUT", "PATCH"):
            if method == "PATCH":
                allowed = [JSON_PATCH, MERGE_PATCH] + (
                    [STRATEGIC_MERGE_PATCH] if rt.builtin else []
                )
                if media not in allowed:
                    raise ApiError(
                        415,
                        "the body of the request was in an unknown format - accepted media types "
                        "include: " + ", ".join(allowed),
                    )
            elif media not in ("", "application/json"):
                raise ApiError(
                    415,
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json",
                )
            if parse_error is not None or body is None:
                raise ApiError(400, f"the request body is not valid JSON: {parse_error or 'empty'}")
        if name is None:
            if method == "GET":
                return 200, self._list(rt, namespace, query)
            if method == "POST" and namespace is not None and sub is None:
                if not isinstance(body, dict):
                    raise ApiError(400, "the request body must be a JSON object")
                obj = self._create(rt, namespace, body, reconcile=False)
                response = copy.deepcopy(obj)
                self._after_write(rt, namespace, obj["metadata"]["name"])
                return 201, response
            raise ApiError(405, "the server does not allow this method on the requested resource")
        assert namespace is not None
        if sub == "scale":
            return self._serve_scale(rt, namespace, name, method, media, body)
        if method == "GET":
            return 200, copy.deepcopy(self._get_or_404(rt, namespace, name))
        if method == "PUT":
            if not isinstance(body, dict):
                raise ApiError(400, "the request body must be a JSON object")
            if sub is None and rt.create_on_update and (rt, namespace, name) not in self._objects:
                meta = body.get("metadata")
                if isinstance(meta, dict) and meta.get("name", name) != name:
                    raise ApiError(
                        400,
                        f"the name of the object ({meta.get('name')}) does not match the name"
                        f" on the URL ({name})",
                    )
                created = self._create(rt, namespace, body, reconcile=False)
                return 201, copy.deepcopy(created)
            wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
            if not rt.unconditional_update and wanted_rv in (None, ""):
                raise ApiError(
                    422,
                    f'{rt.qualified} "{name}" is invalid: metadata.resourceVersion: Invalid'
                    " value: 0x0: must be specified for an update",
                    details={
                        "name": name,
                        "group": rt.group,
                        "kind": rt.plural,
                        "causes": [
                            {
                                "reason": "FieldValueInvalid",
                                "message": "Invalid value: 0x0: must be specified for an update",
                                "field": "metadata.resourceVersion",
                            }
                        ],
                    },
                )
            obj = self._update(rt, namespace, name, body, subresource=sub, reconcile=False)
        elif method == "PATCH":
            current = self._get_or_404(rt, namespace, name)
            obj = self._update(
                rt,
                namespace,
                name,
                self._patched(rt, current, media, body),
                subresource=sub,
                reconcile=False,
            )
        elif method == "DELETE" and sub is None:
            return 200, self._delete(rt, namespace, name, query, body)
        else:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        response = copy.deepcopy(obj)
        self._after_write(rt, namespace, name)
        return 200, response

    def _discovery(self, path: str) -> dict[str, Any] | None:
        path = path.rstrip("/") or "/"
        if path == "/version":
            return {
                "major": "1",
                "minor": "34",
                "gitVersion": "v1.34.0-emulated",
                "platform": "linux/amd64",
            }
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        groups = sorted({(rt.group, rt.version) for rt in TYPES if rt.group})
        if path == "/apis":
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                        "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                    }
                    for g, v in groups
                ],
            }
        for group, version in [("", "v1"), *groups]:
            prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
            if path == prefix:
                resources = []
                for rt in TYPES:
                    if (rt.group, rt.version) != (group, version):
                        continue
                    verbs = ["create", "delete", "get", "list", "patch", "update"]
                    resources.append(
                        {"name": rt.plural, "namespaced": True, "kind": rt.kind, "verbs": verbs}
                    )
                    resources += [
                        {
                            "name": f"{rt.plural}/{s}",
                            "namespaced": True,
                            "kind": "Scale" if s == "scale" else rt.kind,
                            "verbs": ["get", "patch", "update"],
                        }
                        for s in sorted(rt.subresources)
                    ]
                return {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": prefix.split("/", 2)[2],
                    "resources": resources,
                }
        return None

    def _parse_path(self, path: str) -> tuple[ResourceType, str | None, str | None, str | None]:
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        rt = BY_PATH.get((group, version, rest[0])) if rest else None
        if rt is None or len(rest) > 3 or (len(rest) >= 2 and namespace is None):
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and sub not in rt.subresources:
            raise ApiError(404, "the server could not find the requested resource")
        return rt, namespace, name, sub

    # ----------------------------------------------------------------- storage

    def _scale_of(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": self._scale_status(rt, obj),
        }

    @staticmethod
    def _scale_status(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        status = obj.get("status") or {}
        if rt is ROLLOUTS:  # the CRD's statusReplicasPath and labelSelectorPath
            return {
                "replicas": status.get("HPAReplicas", 0),
                "selector": status.get("selector", ""),
            }
        return {
            "replicas": status.get("replicas", 0),
            "selector": selector_string(obj["spec"].get("selector") or {}),
        }

    def _serve_scale(
        self, rt: ResourceType, namespace: str, name: str, method: str, media: str, body: Any
    ) -> tuple[int, Any]:
        obj = self._get_or_404(rt, namespace, name)
        scale = self._scale_of(rt, obj)
        if method == "GET":
            return 200, scale
        if method == "PUT":
            candidate = body
        elif method == "PATCH":
            candidate = self._patched(rt, scale, media, body)
        else:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if not isinstance(candidate, dict) or candidate.get("kind") not in (None, "Scale"):
            raise ApiError(400, "the body must be an autoscaling/v1 Scale")
        wanted_rv = (candidate.get("metadata") or {}).get("resourceVersion")
        if wanted_rv not in (None, "") and wanted_rv != obj["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        replicas = (candidate.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError(
                422,
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: must be greater than or equal to 0',
            )
        new = copy.deepcopy(obj)
        new["spec"]["replicas"] = replicas
        self._update(rt, namespace, name, new, reconcile=False)
        response = self._scale_of(rt, self._objects[(rt, namespace, name)])
        self._after_write(rt, namespace, name)
        return 200, response

    # ----------------------------------------------------------------- defaulting & validation
