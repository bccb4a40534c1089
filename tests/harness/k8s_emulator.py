"""A Kubernetes API emulator for the deploy engine's tests.

The real ``kubernetes`` client talks real HTTP to it on ``127.0.0.1:<port>``.
It stores objects in memory and behaves like an API server where the deploy
engine can get it wrong: resourceVersion, generation, ``Status`` errors,
label selectors, the three patch content types, the ``/status`` and ``/scale``
subresources, defaulting and the validation that turns a bad request into 422,
and a small Deployment -> ReplicaSet -> Pod controller that tests drive with
``tick()`` instead of time.

Why not kmock's ``KubernetesEmulator``
-------------------------------------
DESIGN.md suggests extending kmock. Its source (kmock 0.8) was read first; it
fights this use in three ways, so this module stands on the standard
library's ``ThreadingHTTPServer`` instead:

* kmock is asyncio-only: ``kmock.Server`` is an ``async with`` around aiohttp's
  test server and its object store is guarded by an ``asyncio.Lock``. The
  deploy engine and its tests are synchronous, so every test-side call
  (``add_deployment``, ``tick``, ``script``) would have to be marshalled into an
  event loop owned by a helper thread.
* Entering a ``kmock.Server`` monkeypatches ``aiohttp.connector.TCPConnector``'s
  resolver for the whole process (its DNS interceptor), which would leak into
  anything else in the test process that uses aiohttp.
* ``KubernetesEmulator._handle`` changes the store *before* any user reaction
  runs, and it does so with one recursive dict merge for every PATCH whatever
  its content type (a JSON-patch list body cannot go through it), treats PUT as
  no action, and has no resourceVersion or label selectors. Extending it means
  overriding ``_handle`` and every ``_serve_*`` method, keeping only aiohttp's
  routing and kmock's path parser - less than this module needs to write anyway.

Departures from Kubernetes are listed in ``K8sEmulator``'s docstring.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import itertools
import json
import re
import socket
import threading
import traceback
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import kubernetes.client

__all__ = [
    "MODES",
    "ApiError",
    "K8sEmulator",
    "RecordedRequest",
    "ResourceType",
    "json_patch",
    "label_selector_matches",
    "merge_patch",
    "parse_label_selector",
    "strategic_merge_patch",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
POD_TEMPLATE_HASH = "pod-template-hash"

MODES = ("healthy", "instant", "slow", "stuck", "crashloop")

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    short_names: tuple[str, ...] = ()
    builtin: bool = True  # strategic merge patch exists only for built-in types
    subresources: frozenset[str] = frozenset({"status"})
    # The registry strategy's AllowCreateOnUpdate / AllowUnconditionalUpdate.
    create_on_update: bool = False
    unconditional_update: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """What Kubernetes' messages call it: ``deployments.apps``, ``services``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_qualified(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


DEPLOYMENTS = ResourceType(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    ("deploy",),
    subresources=frozenset({"status", "scale"}),
)
REPLICASETS = ResourceType(
    "apps", "v1", "replicasets", "ReplicaSet", ("rs",), subresources=frozenset({"status", "scale"})
)
SERVICES = ResourceType("", "v1", "services", "Service", ("svc",))
PODS = ResourceType("", "v1", "pods", "Pod", ("po",))
VIRTUAL_SERVICES = ResourceType(
    "networking.istio.io", "v1beta1", "virtualservices", "VirtualService", ("vs",), builtin=False
)
# Leases (client-go leader election): a PUT of an absent Lease creates it, and a PUT must
# carry metadata.resourceVersion (422 without), as pkg/registry/coordination/lease says.
LEASES = ResourceType(
    "coordination.k8s.io",
    "v1",
    "leases",
    "Lease",
    subresources=frozenset(),
    create_on_update=True,
    unconditional_update=False,
)
_TYPES = (DEPLOYMENTS, REPLICASETS, SERVICES, PODS, VIRTUAL_SERVICES, LEASES)
_BY_PATH = {(rt.group, rt.version, rt.plural): rt for rt in _TYPES}
_BY_NAME: dict[str, ResourceType] = {}
for _rt in _TYPES:
    for _alias in (_rt.kind, _rt.plural, _rt.kind_qualified, _rt.qualified, *_rt.short_names):
        _BY_NAME[_alias.lower()] = _rt
    _BY_NAME[_rt.plural[:-1]] = _rt  # singular


def _resource_type(kind: str | ResourceType) -> ResourceType:
    if isinstance(kind, ResourceType):
        return kind
    try:
        return _BY_NAME[kind.lower()]
    except KeyError:
        known = ", ".join(rt.kind for rt in _TYPES)
        raise KeyError(f"unknown kind {kind!r}; the emulator serves {known}") from None


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """Answered to the client as a ``Status`` object with this code."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = dict(details or {})

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        404,
        f'{rt.qualified} "{name}" not found',
        details={"name": name, "group": rt.group, "kind": rt.plural},
    )


def _conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        reason="Conflict",
        details={"name": name, "group": rt.group, "kind": rt.plural},
    )


def _invalid(rt: ResourceType, name: str, causes: list[tuple[str, str]]) -> ApiError:
    text = ", ".join(f"{fld}: {msg}" for fld, msg in causes)
    return ApiError(
        422,
        f'{rt.kind_qualified} "{name}" is invalid: {text}',
        details={
            "name": name,
            "group": rt.group,
            "kind": rt.kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": msg, "field": fld} for fld, msg in causes
            ],
        },
    )


class PatchError(Exception):
    """A patch that cannot be applied; ``code`` is 400 (malformed) or 422."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- label selectors

_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_KEY_RE = re.compile(rf"^(({_DNS_SUBDOMAIN})/)?{_LABEL_NAME}$")
_LABEL_VALUE_RE = re.compile(rf"^({_LABEL_NAME})?$")
_DNS_SUBDOMAIN_RE = re.compile(rf"^{_DNS_SUBDOMAIN}$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_SET_TERM = re.compile(r"^(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ_TERM = re.compile(r"^(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)$")
_EXISTS_TERM = re.compile(r"^(?P<neg>!\s*)?(?P<key>[^\s!=(),]+)$")

Requirement = tuple[str, str, frozenset[str]]


def _valid_label_key(key: str) -> bool:
    if not _LABEL_KEY_RE.match(key):
        return False
    prefix, _, name = key.rpartition("/")
    return len(name) <= 63 and len(prefix) <= 253


def _valid_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE_RE.match(value))


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t.strip() for t in terms]


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` into requirements.

    Raises ``ValueError`` on a malformed selector, as the API server answers 400.
    """
    requirements: list[Requirement] = []
    if not text.strip():
        return requirements
    for term in _split_terms(text):
        if match := _SET_TERM.match(term):
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            if not values:
                raise ValueError(
                    f"{term!r}: for 'in', 'notin' operators, values set can't be empty"
                )
            requirements.append((match["key"], match["op"], values))
        elif match := _EQ_TERM.match(term):
            op = "!=" if match["op"] == "!=" else "="
            requirements.append((match["key"], op, frozenset({match["value"]})))
        elif match := _EXISTS_TERM.match(term):
            requirements.append((match["key"], "!" if match["neg"] else "exists", frozenset()))
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
        key = requirements[-1][0]
        if not _valid_label_key(key):
            raise ValueError(f"invalid label key {key!r}")
        for value in requirements[-1][2]:
            if not _valid_label_value(value):
                raise ValueError(f"invalid label value {value!r}")
    return requirements


def label_selector_matches(requirements: Iterable[Requirement], labels: Mapping[str, str]) -> bool:
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        ok = {
            "=": present and value in values,
            "!=": not present or value not in values,
            "in": present and value in values,
            "notin": not present or value not in values,
            "exists": present,
            "!": not present,
        }[op]
        if not ok:
            return False
    return True


def _selector_requirements(selector: Mapping[str, Any]) -> list[Requirement]:
    """A ``LabelSelector`` object (matchLabels / matchExpressions) as requirements."""
    reqs: list[Requirement] = [
        (k, "=", frozenset({str(v)})) for k, v in (selector.get("matchLabels") or {}).items()
    ]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append((expr["key"], ops[expr["operator"]], frozenset(expr.get("values") or [])))
    return reqs


def _selector_string(selector: Mapping[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr["operator"], expr["key"], ",".join(sorted(expr.get("values") or []))
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})"}.get(
                op, key if op == "Exists" else f"!{key}"
            )
        )
    return ",".join(parts)


# --------------------------------------------------------------------------- patches


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}", 400)
    if path == "":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _index(container: list[Any], token: str, *, insert: bool) -> int:
    if token == "-" and insert:
        return len(container)
    if not re.fullmatch(r"0|[1-9][0-9]*", token):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not insert):
        raise PatchError(f"array index {index} out of bounds")
    return index


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch; returns a new document."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations", 400)
    doc = copy.deepcopy(doc)

    def parent(tokens: list[str]) -> tuple[Any, str]:
        node = doc
        for token in tokens[:-1]:
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list):
                node = node[_index(node, token, insert=False)]
            else:
                raise PatchError(f"path segment {token!r} does not exist")
        return node, tokens[-1]

    def get(tokens: list[str]) -> Any:
        if not tokens:
            return doc
        node, last = parent(tokens)
        if isinstance(node, dict):
            if last not in node:
                raise PatchError(f"path {'/' + '/'.join(tokens)!r} does not exist")
            return node[last]
        if isinstance(node, list):
            return node[_index(node, last, insert=False)]
        raise PatchError(f"cannot reach {last!r} in a scalar")

    def add(tokens: list[str], value: Any) -> None:
        nonlocal doc
        if not tokens:
            doc = value
            return
        node, last = parent(tokens)
        if isinstance(node, dict):
            node[last] = value
        elif isinstance(node, list):
            node.insert(_index(node, last, insert=True), value)
        else:
            raise PatchError(f"cannot add {last!r} to a scalar")

    def remove(tokens: list[str]) -> Any:
        if not tokens:
            raise PatchError("cannot remove the whole document")
        get(tokens)  # must exist
        node, last = parent(tokens)
        if isinstance(node, dict):
            return node.pop(last)
        return node.pop(_index(node, last, insert=False))

    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed JSON patch operation {op!r}", 400)
        kind, tokens = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{kind} operation needs a value", 400)
        if kind == "add":
            add(tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            remove(tokens)
        elif kind == "replace":
            get(tokens)  # must exist
            if not tokens:
                doc = copy.deepcopy(op["value"])
            else:
                node, last = parent(tokens)
                if isinstance(node, dict):
                    node[last] = copy.deepcopy(op["value"])
                else:
                    node[_index(node, last, insert=False)] = copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from"))
            if kind == "move" and tokens[: len(source)] == source and tokens != source:
                raise PatchError("cannot move a value into one of its children")
            value = remove(source) if kind == "move" else copy.deepcopy(get(source))
            add(tokens, value)
        elif kind == "test":
            if not _json_equal(get(tokens), op["value"]):
                raise PatchError(f"test operation failed at {op['path']!r}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}", 400)
    return doc


# Merge keys of list fields, as in Kubernetes' patchMergeKey struct tags. Lists not named here
# are replaced whole by a strategic merge patch, as Kubernetes does for atomic lists.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey",
}
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_PRIMITIVE_MERGE = ("finalizers",)


def _merge_key(kind: str, path: tuple[str, ...], field_name: str) -> str | None:
    if field_name == "ports":
        if path and path[-1] in _CONTAINER_LISTS:
            return "containerPort"
        if kind == "Service" and path == ("spec",):
            return "port"
        return None
    if field_name == "conditions" and path[:1] != ("status",):
        return None
    return _MERGE_KEYS.get(field_name)


def strategic_merge_patch(original: Any, patch: Any, kind: str) -> Any:
    """Kubernetes' strategic merge patch for the built-in kinds served here.

    Lists of containers merge by ``name`` (and their ``env`` by name, ``ports`` by
    ``containerPort``, ``volumeMounts`` by ``mountPath``); Service ports by ``port``;
    ``finalizers`` as a set. Directives: ``$patch: replace|delete|merge``,
    ``$retainKeys``, ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>``.
    """
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object", 400)
    return _smp_map(original if isinstance(original, dict) else {}, patch, kind, ())


def _smp_map(
    original: dict[str, Any], patch: dict[str, Any], kind: str, path: tuple[str, ...]
) -> Any:
    directive = patch.get("$patch", "merge")
    if directive not in ("merge", "replace", "delete"):
        raise PatchError(f"unknown patch directive $patch: {directive!r}", 400)
    if directive == "replace":
        return _smp_map({}, {k: v for k, v in patch.items() if k != "$patch"}, kind, path)
    result = copy.deepcopy(original)
    order: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith("$"):
            if key.startswith("$deleteFromPrimitiveList/"):
                name = key.split("/", 1)[1]
                if not isinstance(value, list):
                    raise PatchError(f"{key} must be a list", 400)
                result[name] = [x for x in result.get(name) or [] if x not in value]
            elif key.startswith("$setElementOrder/"):
                order[key.split("/", 1)[1]] = value
            elif key not in ("$patch", "$retainKeys"):
                raise PatchError(f"unknown patch directive {key!r}", 400)
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
                continue
            current = result.get(key)
            result[key] = _smp_map(
                current if isinstance(current, dict) else {}, value, kind, (*path, key)
            )
        elif isinstance(value, list):
            current = result.get(key)
            current = current if isinstance(current, list) else []
            merge_key = _merge_key(kind, path, key)
            if key in _PRIMITIVE_MERGE:
                result[key] = current + [x for x in value if x not in current]
            elif merge_key:
                result[key] = _smp_list(current, value, merge_key, kind, (*path, key))
            else:
                result[key] = [
                    _smp_map({}, v, kind, (*path, key)) if isinstance(v, dict) else v
                    for v in value
                    if not (isinstance(v, dict) and v.get("$patch") == "replace" and len(v) == 1)
                ]
        else:
            result[key] = value
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"] or [])
        result = {k: v for k, v in result.items() if k in keep}
    for name, wanted in order.items():  # $setElementOrder: reorder merged list items
        items = result.get(name)
        merge_key = _merge_key(kind, path, name)
        if isinstance(items, list) and merge_key:
            rank = {
                (w.get(merge_key) if isinstance(w, dict) else w): i for i, w in enumerate(wanted)
            }
            items.sort(key=lambda item, mk=merge_key: rank.get(item.get(mk), len(rank)))  # type: ignore[misc]
    return result


def _smp_list(
    original: list[Any], patch: list[Any], merge_key: str, kind: str, path: tuple[str, ...]
) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" and len(p) == 1 for p in patch):
        return [
            _smp_map({}, p, kind, path)
            for p in patch
            if not (isinstance(p, dict) and p.get("$patch") == "replace" and len(p) == 1)
        ]
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"{path[-1]}: items of a merged list must be objects", 400)
        if merge_key not in item:
            raise PatchError(f"{path[-1]}: item does not contain declared merge key: {merge_key}")
        index = next(
            (
                i
                for i, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            result = [
                cur
                for cur in result
                if not (isinstance(cur, dict) and cur.get(merge_key) == item[merge_key])
            ]
        elif index is None:
            result.append(_smp_map({}, item, kind, path))
        else:
            result[index] = _smp_map(result[index], item, kind, path)
    return result


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the emulator received, and what it answered."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any  # parsed JSON; the raw text when it was not JSON; None when empty
    status: int
    user_agent: str | None = None  # hotfix-bot's client says "hotfix-bot/…"

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.method} {self.path}{'?' + query if query else ''} -> {self.status}"


# Every request any emulator received in this test process: the RBAC test checks that
# deploy/rbac.yaml allows all of them and nothing more.
SESSION_REQUESTS: list[RecordedRequest] = []


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    code: int
    reason: str
    message: str
    times: int


@dataclass
class _Script:
    mode: str
    ticks: int = 3  # "slow": ticks the whole rollout needs
    deadline_ticks: int = 3  # "stuck"/"crashloop": ticks until ProgressDeadlineExceeded
    episode: tuple[str, int] | None = None  # (new RS name, desired replicas) being rolled out
    elapsed: int = 0
    base_ready: int = 0
    restarts: int = 0  # restartCount shown by crashlooping pods


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_MICRO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$"
)


def _micro_time(rt: ResourceType, value: Any) -> str:
    """A ``metav1.MicroTime`` as the API server decodes and re-encodes it.

    It parses with Go's layout ``2006-01-02T15:04:05.000000Z07:00`` - exactly six fractional
    digits: RFC 3339 without them is a 400 - and answers in UTC with ``Z``.
    """
    layout = "2006-01-02T15:04:05.000000Z07:00"
    parsed = None
    if isinstance(value, str) and _MICRO_TIME.match(value):
        with contextlib.suppress(ValueError):
            parsed = datetime.datetime.fromisoformat(value)
    if parsed is None:
        raise ApiError(
            400,
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: parsing time'
            f" {json.dumps(value)} as {json.dumps(layout)}: cannot parse it as {json.dumps(layout)}",
            reason="BadRequest",
        )
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def _safe_encode(text: str) -> str:
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in text)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _template_key(template: Mapping[str, Any]) -> str:
    """A pod template compared the way the controller does: without pod-template-hash."""
    template = copy.deepcopy(dict(template))
    labels = template.get("metadata", {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return _canonical(template)


def _resolve_percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total
        return -(-scaled // 100) if round_up else scaled // 100
    return int(value)


def _omit_zero(status: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    for key in keys:
        if not status.get(key):
            status.pop(key, None)
    return status


# --------------------------------------------------------------------------- HTTP plumbing


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


# --------------------------------------------------------------------------- the emulator


class K8sEmulator:
    """An in-memory Kubernetes API server on ``http://127.0.0.1:<port>``.

    Serves apps/v1 Deployments (with ``/status`` and ``/scale``) and ReplicaSets,
    v1 Services and Pods, networking.istio.io/v1beta1 VirtualServices as a
    custom resource, and coordination.k8s.io/v1 Leases (PUT needs a
    resourceVersion and creates an absent Lease; MicroTime fields need six
    fractional digits), all namespaced; namespaces exist implicitly.

    Departures from Kubernetes, on purpose:

    * no watch (``?watch=true`` answers 405), no server-side apply (415), no
      DELETE of collections, no Namespace objects, no authentication; JSON only.
    * unknown fields are stored, not dropped (Kubernetes drops them, or refuses
      them with ``fieldValidation=Strict``); the OpenAPI check in
      ``k8s_openapi`` is what catches them.
    * a no-op write (one that changes nothing) does not bump resourceVersion,
      as in Kubernetes; every other write does.
    * the ReplicaSet "controller" only exists inside the Deployment controller:
      ReplicaSets created directly through the API get no Pods. Rollouts move
      one replica per step (no surge) unless new pods never get ready, where
      maxSurge / maxUnavailable are honoured as Kubernetes does.
    * rollouts advance only on ``tick()``; pods carry fake IPs and image IDs.
    """

    def __init__(self, *, default_mode: str = "healthy") -> None:
        if default_mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.default_mode = default_mode
        self._lock = threading.RLock()
        self._objects: dict[tuple[ResourceType, str, str], dict[str, Any]] = {}
        self._rv = 1000
        self._requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self._scripts: dict[tuple[str, str], _Script] = {}
        self._clients: list[kubernetes.client.ApiClient] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ips = itertools.count(10)
        self._pod_ids = itertools.count(1)
        self._pod_order: dict[tuple[str, str], int] = {}
        self._proven: set[str] = set()  # uids of ReplicaSets that were once fully available
        self.errors: list[str] = []  # tracebacks of the emulator's own bugs (answered 500)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> K8sEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="k8s-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        for client in self._clients:
            client.close()  # type: ignore[no-untyped-call]
        self._clients.clear()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        for conn in list(server.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> K8sEmulator:
        return self.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()
        if exc_type is None and self.errors:
            raise AssertionError(
                "the Kubernetes emulator failed internally:\n" + "\n".join(self.errors)
            )

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def api_client(self) -> kubernetes.client.ApiClient:
        """A ``kubernetes.client.ApiClient`` pointed at this emulator (closed on stop())."""
        config = kubernetes.client.Configuration()
        config.host = self.url
        config.proxy = None  # never route 127.0.0.1 through an environment proxy
        client = kubernetes.client.ApiClient(config)
        self._clients.append(client)
        return client

    # ----------------------------------------------------------------- test API

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every HTTP request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_matching(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """The recorded requests with that method and a path matching ``path`` (re.search)."""
        pattern = re.compile(path) if path else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        reason: str | None = None,
        *,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Refuse the next ``times`` requests matching method and path (``re.search``).

        The request is answered with a ``Status`` of that code and reason and has no effect.
        """
        with self._lock:
            self._failures.append(
                _Failure(
                    method.upper(),
                    re.compile(path_regex),
                    status,
                    reason or _REASONS.get(status, "Unknown"),
                    message or f"injected failure: {status} {reason or _REASONS.get(status, '')}",
                    times,
                )
            )

    def script(
        self, namespace: str, name: str, mode: str, *, ticks: int = 3, deadline_ticks: int = 3
    ) -> None:
        """How rollouts of this Deployment behave (it need not exist yet).

        ``healthy``: each tick one more new pod is available and one old pod goes.
        ``instant``: the rollout completes within the write that started it.
        ``slow``: the rollout needs ``ticks`` ticks, spread evenly.
        ``stuck``: new pods stay Pending; after ``deadline_ticks`` ticks Progressing turns
        False with reason ProgressDeadlineExceeded.
        ``crashloop``: new pods run but never get ready (CrashLoopBackOff); same deadline.

        ``stuck`` and ``crashloop`` hit new pod templates only: a ReplicaSet that was fully
        available before (the target of a rollback) scales up as ``healthy``.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if ticks < 1 or deadline_ticks < 1:
            raise ValueError("ticks and deadline_ticks must be positive")
        with self._lock:
            self._scripts[(namespace, name)] = _Script(mode, ticks, deadline_ticks)
            if (DEPLOYMENTS, namespace, name) in self._objects:
                self._reconcile(namespace, name)

    def tick(self, n: int = 1) -> None:
        """Advance every rollout by ``n`` steps."""
        for _ in range(n):
            with self._lock:
                for rt, ns, name in sorted(self._objects, key=lambda k: (k[1], k[2])):
                    if rt is DEPLOYMENTS:
                        self._reconcile(ns, name, advance=True)

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        image: str,
        container: str = "app",
        replicas: int = 3,
        labels: Mapping[str, str] | None = None,
        extra_containers: Iterable[Mapping[str, Any]] | None = None,
        paused: bool = False,
    ) -> dict[str, Any]:
        """Create a Deployment already rolled out at revision 1 (pods ready)."""
        labels = dict(labels or {"app": name})
        containers = [{"name": container, "image": image}] + [
            copy.deepcopy(dict(c)) for c in extra_containers or ()
        ]
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
            },
        }
        with self._lock:
            self._create(DEPLOYMENTS, namespace, body, reconcile=False)
            self._reconcile(namespace, name, force_instant=True)
            if paused:
                self._update(
                    DEPLOYMENTS, namespace, name, self._edit_spec(namespace, name, paused=True)
                )
            return self.get(DEPLOYMENTS, namespace, name) or {}

    def add_service(
        self,
        namespace: str,
        name: str,
        selector: Mapping[str, str],
        *,
        ports: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": dict(selector),
                "ports": ports or [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        }
        with self._lock:
            return copy.deepcopy(self._create(SERVICES, namespace, body))

    def add_lease(self, namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A Lease written by someone else (another bot, a leader-election library)."""
        body = {
            "apiVersion": LEASES.api_version,
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": copy.deepcopy(dict(spec)),
        }
        with self._lock:
            return copy.deepcopy(self._create(LEASES, namespace, body))

    def add_virtual_service(
        self, namespace: str, name: str, spec: Mapping[str, Any]
    ) -> dict[str, Any]:
        body = {
            "apiVersion": VIRTUAL_SERVICES.api_version,
            "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": copy.deepcopy(dict(spec)),
        }
        with self._lock:
            return copy.deepcopy(self._create(VIRTUAL_SERVICES, namespace, body))

    def get(self, kind: str | ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object (a copy), or None. ``kind``: "Deployment", "deployments", "svc", ..."""
        rt = _resource_type(kind)
        with self._lock:
            obj = self._objects.get((rt, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects(
        self, kind: str | ResourceType, namespace: str | None = None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        rt = _resource_type(kind)
        reqs = parse_label_selector(label_selector)
        with self._lock:
            return [
                copy.deepcopy(obj)
                for obj in self._select(rt, namespace)
                if label_selector_matches(reqs, obj["metadata"].get("labels") or {})
            ]

    def replica_sets(self, namespace: str, deployment: str) -> list[dict[str, Any]]:
        """The ReplicaSets the Deployment owns, oldest revision first."""
        with self._lock:
            deploy = self._objects.get((DEPLOYMENTS, namespace, deployment))
            if deploy is None:
                return []
            return [copy.deepcopy(rs) for rs in self._owned_replica_sets(deploy)]

    def edit(
        self, kind: str | ResourceType, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change an object as another client would (RFC 7386 merge patch): bumps
        resourceVersion, so a client holding the old version gets 409 on replace."""
        rt = _resource_type(kind)
        with self._lock:
            candidate = merge_patch(self._get_or_404(rt, namespace, name), dict(patch))
            candidate["metadata"].pop("resourceVersion", None)
            obj = self._update(rt, namespace, name, candidate)
            if "status" in patch:
                obj = self._update(rt, namespace, name, candidate, subresource="status")
            return copy.deepcopy(obj)

    # ----------------------------------------------------------------- HTTP entry

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
        )

    def _restore(self, saved: tuple[Any, ...]) -> None:
        self._objects, self._rv, self._scripts, self._pod_order, self._proven = saved

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
        groups = sorted({(rt.group, rt.version) for rt in _TYPES if rt.group})
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
                for rt in _TYPES:
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
        rt = _BY_PATH.get((group, version, rest[0])) if rest else None
        if rt is None or len(rest) > 3 or (len(rest) >= 2 and namespace is None):
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and sub not in rt.subresources:
            raise ApiError(404, "the server could not find the requested resource")
        return rt, namespace, name, sub

    # ----------------------------------------------------------------- storage

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _select(self, rt: ResourceType, namespace: str | None) -> list[dict[str, Any]]:
        keys = sorted(
            k for k in self._objects if k[0] is rt and (namespace is None or k[1] == namespace)
        )
        return [self._objects[k] for k in keys]

    def _get_or_404(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self._objects.get((rt, namespace, name))
        if obj is None:
            raise _not_found(rt, name)
        return obj

    def _list(
        self, rt: ResourceType, namespace: str | None, query: dict[str, str]
    ) -> dict[str, Any]:
        try:
            labels = parse_label_selector(query.get("labelSelector", ""))
        except ValueError as exc:
            raise ApiError(400, f"unable to parse requirement: {exc}") from None
        fields = self._field_selector(rt, query.get("fieldSelector", ""))
        items = [
            obj
            for obj in self._select(rt, namespace)
            if label_selector_matches(labels, obj["metadata"].get("labels") or {})
            and all(fields_ok(obj) for fields_ok in fields)
        ]
        metadata: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if token := query.get("continue"):
            try:
                after = json.loads(base64.urlsafe_b64decode(token.encode()))
                items = [
                    o for o in items if [o["metadata"]["namespace"], o["metadata"]["name"]] > after
                ]
            except ValueError:
                raise ApiError(400, "invalid continue token") from None
        limit = int(query.get("limit") or 0)
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            metadata["continue"] = base64.urlsafe_b64encode(
                json.dumps([last["namespace"], last["name"]]).encode()
            ).decode()
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": metadata,
            "items": [copy.deepcopy(o) for o in items],
        }

    @staticmethod
    def _field_selector(rt: ResourceType, text: str) -> list[Any]:
        checks = []
        supported = {"metadata.name", "metadata.namespace"} | (
            {"status.phase", "spec.nodeName"} if rt is PODS else set()
        )
        for term in filter(None, (t.strip() for t in text.split(","))):
            match = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", term)
            if not match or match[1] not in supported:
                raise ApiError(
                    400,
                    f'"{term}" is not a known field selector: only "{", ".join(sorted(supported))}"',
                )
            path, negate, value = match[1].split("."), match[2] == "!=", match[3]

            def check(
                obj: dict[str, Any],
                path: list[str] = path,
                negate: bool = negate,
                value: str = value,
            ) -> bool:
                actual = obj.get(path[0], {}).get(path[1], "")
                return bool(actual == value) != negate

            checks.append(check)
        return checks

    def _create(
        self, rt: ResourceType, namespace: str, body: Mapping[str, Any], *, reconcile: bool = True
    ) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        self._check_type(rt, obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object")
        if meta.get("namespace") not in (None, "", namespace):
            raise ApiError(
                400,
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _safe_encode(uuid.uuid4().hex)[:5]
        name = meta.get("name")
        if not name:
            raise _invalid(
                rt, "", [("metadata.name", "Required value: name or generateName is required")]
            )
        if (rt, namespace, name) in self._objects:
            raise ApiError(
                409,
                f'{rt.qualified} "{name}" already exists',
                reason="AlreadyExists",
                details={"name": name, "group": rt.group, "kind": rt.plural},
            )
        for server_field in (
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
        ):
            meta.pop(server_field, None)
        meta.update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            creationTimestamp=_now(),
            generation=1,
            resourceVersion=self._next_rv(),
        )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        obj.pop("status", None)
        self._default(rt, obj, None)
        self._validate(rt, obj, None)
        self._objects[(rt, namespace, name)] = obj
        if reconcile:
            self._after_write(rt, namespace, name)
        return obj

    def _update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Mapping[str, Any],
        *,
        subresource: str | None = None,
        reconcile: bool = True,
    ) -> dict[str, Any]:
        """Replace an object (PUT semantics; patches are applied before calling this)."""
        old = self._get_or_404(rt, namespace, name)
        candidate = copy.deepcopy(dict(body))
        self._check_type(rt, candidate)
        meta = candidate.get("metadata")
        if not isinstance(meta, dict):
            meta = candidate["metadata"] = {}
        if meta.get("name", name) != name:
            raise ApiError(
                400,
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
            )
        if meta.get("namespace") not in (None, "", namespace):
            raise ApiError(
                400,
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv not in (None, "") and wanted_rv != old["metadata"]["resourceVersion"]:
            raise _conflict(rt, name)
        if meta.get("uid") not in (None, "", old["metadata"]["uid"]):
            raise ApiError(
                409,
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old['metadata']['uid']}",
                reason="Conflict",
            )
        if subresource == "status":
            new = copy.deepcopy(old)
            # As in Kubernetes' status strategies: spec and labels stay, annotations may change
            # (the deployment controller writes the revision annotation through UpdateStatus).
            new["status"] = candidate.get("status") or {}
            new["metadata"].pop("annotations", None)
            if meta.get("annotations"):
                new["metadata"]["annotations"] = meta["annotations"]
        else:
            new = candidate
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        for kept in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "resourceVersion",
        ):
            new["metadata"][kept] = old["metadata"][kept]
        self._default(rt, new, old)
        self._validate(rt, new, old)
        if _canonical(new) == _canonical(old):
            return old  # a no-op write is not persisted: resourceVersion stays
        if subresource != "status" and (
            new.get("spec") != old.get("spec")
            or (
                rt is DEPLOYMENTS
                and new["metadata"].get("annotations") != old["metadata"].get("annotations")
            )
        ):
            new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[(rt, namespace, name)] = new
        if reconcile:
            self._after_write(rt, namespace, name)
        return new

    def _delete(
        self, rt: ResourceType, namespace: str, name: str, query: Mapping[str, str], body: Any
    ) -> dict[str, Any]:
        obj = self._get_or_404(rt, namespace, name)
        preconditions = (body.get("preconditions") if isinstance(body, dict) else None) or {}
        if preconditions.get("resourceVersion") not in (None, obj["metadata"]["resourceVersion"]):
            raise _conflict(rt, name)
        if preconditions.get("uid") not in (None, obj["metadata"]["uid"]):
            raise _conflict(rt, name)
        options = body if isinstance(body, dict) else {}
        policy = query.get("propagationPolicy") or options.get("propagationPolicy")
        if options.get("orphanDependents") is True or query.get("orphanDependents") == "true":
            policy = "Orphan"
        self._remove(rt, namespace, name, cascade=policy != "Orphan")
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": rt.group,
                "kind": rt.plural,
                "uid": obj["metadata"]["uid"],
            },
        }

    def _remove(self, rt: ResourceType, namespace: str, name: str, *, cascade: bool) -> None:
        obj = self._objects.pop((rt, namespace, name))
        if rt is PODS:
            self._pod_order.pop((namespace, name), None)
        self._next_rv()
        if rt is DEPLOYMENTS:
            self._scripts.pop((namespace, name), None)
        if not cascade:
            return
        uid = obj["metadata"]["uid"]
        for key, child in list(self._objects.items()):
            if key in self._objects and any(
                ref.get("uid") == uid for ref in child["metadata"].get("ownerReferences") or []
            ):
                self._remove(key[0], key[1], key[2], cascade=True)

    def _patched(
        self, rt: ResourceType, current: dict[str, Any], media: str, patch: Any
    ) -> dict[str, Any]:
        try:
            if media == JSON_PATCH:
                result = json_patch(current, patch)
            elif not isinstance(patch, dict):
                raise PatchError("a merge patch must be a JSON object", 400)
            elif media == MERGE_PATCH:
                result = merge_patch(current, patch)
            else:
                result = strategic_merge_patch(current, patch, rt.kind)
        except PatchError as exc:
            raise ApiError(exc.code, str(exc)) from None
        if not isinstance(result, dict):
            raise ApiError(422, "the patched object is not a JSON object")
        return result

    @staticmethod
    def _check_type(rt: ResourceType, obj: Mapping[str, Any]) -> None:
        if obj.get("kind") not in (None, "", rt.kind) or obj.get("apiVersion") not in (
            None,
            "",
            rt.api_version,
        ):
            raise ApiError(
                400,
                f"the API version in the data ({obj.get('apiVersion')}) / kind ({obj.get('kind')}) "
                f"does not match the expected {rt.api_version} / {rt.kind}",
            )

    # ----------------------------------------------------------------- scale

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
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": _selector_string(obj["spec"].get("selector") or {}),
            },
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
            raise _conflict(rt, name)
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

    def _default(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        spec = obj.get("spec")
        if rt is LEASES and isinstance(spec, dict):
            for key in ("acquireTime", "renewTime"):
                if spec.get(key) is not None:
                    spec[key] = _micro_time(rt, spec[key])
        if rt in (DEPLOYMENTS, REPLICASETS) and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            if rt is DEPLOYMENTS:
                strategy = spec.setdefault("strategy", {})
                if isinstance(strategy, dict):
                    strategy.setdefault("type", "RollingUpdate")
                    if strategy["type"] == "RollingUpdate":
                        rolling = strategy.setdefault("rollingUpdate", {})
                        if isinstance(rolling, dict):
                            rolling.setdefault("maxUnavailable", "25%")
                            rolling.setdefault("maxSurge", "25%")
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("progressDeadlineSeconds", 600)
            template = spec.get("template")
            if isinstance(template, dict) and isinstance(template.get("spec"), dict):
                self._default_pod_spec(template["spec"])
        elif rt is PODS and isinstance(spec, dict):
            self._default_pod_spec(spec)
        elif rt is SERVICES and isinstance(spec, dict):
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if not spec.get("clusterIP"):
                previous = ((old or {}).get("spec") or {}).get("clusterIP")
                if not previous:
                    serial = next(self._ips)
                    previous = f"10.96.{serial // 250}.{serial % 250 + 1}"
                spec["clusterIP"] = previous
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
                    port.setdefault("targetPort", port.get("port"))

    @staticmethod
    def _default_pod_spec(pod: dict[str, Any]) -> None:
        pod.setdefault("restartPolicy", "Always")
        pod.setdefault("terminationGracePeriodSeconds", 30)
        pod.setdefault("dnsPolicy", "ClusterFirst")
        pod.setdefault("schedulerName", "default-scheduler")
        pod.setdefault("securityContext", {})
        for key in _CONTAINER_LISTS:
            for container in pod.get(key) or []:
                if not isinstance(container, dict):
                    continue
                image = str(container.get("image") or "")
                tag = image.rsplit("/", 1)[-1]
                latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
                container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
                container.setdefault("terminationMessagePath", "/dev/termination-log")
                container.setdefault("terminationMessagePolicy", "File")
                container.setdefault("resources", {})
                for port in container.get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")

    def _validate(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj["metadata"]
        name = meta["name"]
        errors: list[tuple[str, str]] = []
        name_re, name_rule = (
            (_DNS_1035_RE, "a DNS-1035 label")
            if rt is SERVICES
            else (_DNS_SUBDOMAIN_RE, "a lowercase RFC 1123 subdomain")
        )
        if (
            not isinstance(name, str)
            or not name_re.match(name)
            or len(name) > (63 if rt is SERVICES else 253)
        ):
            errors.append(("metadata.name", f"Invalid value: {name!r}: must be {name_rule}"))
        errors += self._check_labels("metadata.labels", meta.get("labels"))
        annotations = meta.get("annotations")
        if annotations is not None and (
            not isinstance(annotations, dict)
            or not all(isinstance(v, str) for v in annotations.values())
        ):
            errors.append(("metadata.annotations", "Invalid value: must be a map of strings"))
        spec: Any = obj.get("spec")
        if rt is LEASES:  # spec is optional (a struct, not a pointer, in Go)
            errors += self._validate_lease(spec)
        elif rt is not VIRTUAL_SERVICES and not isinstance(spec, dict):
            errors.append(("spec", "Required value"))
        elif rt in (DEPLOYMENTS, REPLICASETS):
            errors += self._validate_workload(rt, spec, old)
        elif rt is PODS:
            errors += self._validate_pod_spec("spec", spec)
        elif rt is SERVICES:
            errors += self._validate_service(spec, old)
        elif spec is not None and not isinstance(spec, dict):
            errors.append(("spec", "Invalid value: must be an object"))
        if errors:
            raise _invalid(rt, name, errors)

    @staticmethod
    def _validate_lease(spec: Any) -> list[tuple[str, str]]:
        """ValidateLeaseSpec."""
        if spec is None:
            return []
        if not isinstance(spec, dict):
            return [("spec", "Invalid value: must be an object")]
        errors: list[tuple[str, str]] = []
        for key in ("leaseDurationSeconds", "leaseTransitions"):
            value = spec.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                errors.append((f"spec.{key}", "Invalid value: must be an integer"))
        duration = spec.get("leaseDurationSeconds")
        if isinstance(duration, int) and duration <= 0:
            errors.append(
                ("spec.leaseDurationSeconds", f"Invalid value: {duration}: must be greater than 0")
            )
        transitions = spec.get("leaseTransitions")
        if isinstance(transitions, int) and transitions < 0:
            errors.append(
                (
                    "spec.leaseTransitions",
                    f"Invalid value: {transitions}: must be greater than or equal to 0",
                )
            )
        holder = spec.get("holderIdentity")
        if holder is not None and not isinstance(holder, str):
            errors.append(("spec.holderIdentity", "Invalid value: must be a string"))
        if spec.get("preferredHolder") and not spec.get("strategy"):
            errors.append(
                (
                    "spec.preferredHolder",
                    "Forbidden: may only be specified if `strategy` is defined",
                )
            )
        return errors

    @staticmethod
    def _check_labels(path: str, labels: Any) -> list[tuple[str, str]]:
        if labels is None:
            return []
        if not isinstance(labels, dict):
            return [(path, "Invalid value: must be a map of strings")]
        errors = []
        for key, value in labels.items():
            if not _valid_label_key(key):
                errors.append((path, f"Invalid value: {key!r}: not a valid label key"))
            if not isinstance(value, str) or not _valid_label_value(value):
                errors.append(
                    (
                        path,
                        f"Invalid value: {value!r}: a valid label must be 63 characters or less, alphanumeric, '-', '_' or '.'",
                    )
                )
        return errors

    def _validate_workload(
        self, rt: ResourceType, spec: dict[str, Any], old: dict[str, Any] | None
    ) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        replicas = spec.get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            errors.append(
                (
                    "spec.replicas",
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                )
            )
        selector = spec.get("selector")
        template = spec.get("template")
        if not isinstance(selector, dict) or not (
            selector.get("matchLabels") or selector.get("matchExpressions")
        ):
            errors.append(
                ("spec.selector", "Required value: empty selector is invalid for deployment")
            )
        elif not isinstance(template, dict):
            errors.append(("spec.template", "Required value"))
        else:
            labels = (template.get("metadata") or {}).get("labels") or {}
            errors += self._check_labels("spec.template.metadata.labels", labels)
            try:
                matches = label_selector_matches(_selector_requirements(selector), labels)
            except (KeyError, TypeError, AttributeError):
                matches = False
                errors.append(("spec.selector", "Invalid value: malformed label selector"))
            if not matches:
                errors.append(
                    (
                        "spec.template.metadata.labels",
                        "Invalid value: `selector` does not match template `labels`",
                    )
                )
        if isinstance(template, dict):
            errors += self._validate_pod_spec("spec.template.spec", template.get("spec"))
        if rt is DEPLOYMENTS:
            strategy = spec.get("strategy") or {}
            if strategy.get("type") not in ("RollingUpdate", "Recreate"):
                errors.append(
                    ("spec.strategy.type", f"Unsupported value: {strategy.get('type')!r}")
                )
            elif strategy["type"] == "Recreate" and strategy.get("rollingUpdate"):
                errors.append(
                    (
                        "spec.strategy.rollingUpdate",
                        "Forbidden: may not be specified when strategy `type` is 'Recreate'",
                    )
                )
            elif strategy["type"] == "RollingUpdate":
                rolling = strategy.get("rollingUpdate") or {}
                values = []
                for key in ("maxSurge", "maxUnavailable"):
                    value = rolling.get(key)
                    if not (
                        (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
                        or (isinstance(value, str) and re.fullmatch(r"\d+%", value))
                    ):
                        errors.append(
                            (f"spec.strategy.rollingUpdate.{key}", f"Invalid value: {value!r}")
                        )
                    else:
                        values.append(_resolve_percent(value, 100, round_up=key == "maxSurge"))
                if len(values) == 2 and values == [0, 0]:
                    errors.append(
                        (
                            "spec.strategy.rollingUpdate.maxUnavailable",
                            "Invalid value: may not be 0 when `maxSurge` is 0",
                        )
                    )
            if not isinstance(spec.get("paused", False), bool):
                errors.append(("spec.paused", "Invalid value: must be a boolean"))
        if old is not None and (old.get("spec") or {}).get("selector") != (spec.get("selector")):
            errors.append(("spec.selector", "Invalid value: field is immutable"))
        return errors

    def _validate_pod_spec(self, path: str, pod: Any) -> list[tuple[str, str]]:
        if not isinstance(pod, dict):
            return [(path, "Required value")]
        containers = pod.get("containers")
        if not isinstance(containers, list) or not containers:
            return [(f"{path}.containers", "Required value")]
        errors = []
        seen = set()
        for i, container in enumerate(containers):
            where = f"{path}.containers[{i}]"
            if not isinstance(container, dict):
                errors.append((where, "Invalid value: must be an object"))
                continue
            cname = container.get("name")
            if not isinstance(cname, str) or not _DNS_LABEL_RE.match(cname):
                errors.append((f"{where}.name", f"Invalid value: {cname!r}: must be a DNS label"))
            elif cname in seen:
                errors.append((f"{where}.name", f"Duplicate value: {cname!r}"))
            seen.add(cname)
            if not container.get("image") or not isinstance(container.get("image"), str):
                errors.append((f"{where}.image", "Required value"))
            for j, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort") if isinstance(port, dict) else None
                if (
                    not isinstance(number, int)
                    or isinstance(number, bool)
                    or not 0 < number < 65536
                ):
                    errors.append(
                        (
                            f"{where}.ports[{j}].containerPort",
                            f"Invalid value: {number!r}: must be between 1 and 65535",
                        )
                    )
            for j, env in enumerate(container.get("env") or []):
                if not isinstance(env, dict) or not env.get("name"):
                    errors.append((f"{where}.env[{j}].name", "Required value"))
        return errors

    def _validate_service(
        self, spec: dict[str, Any], old: dict[str, Any] | None
    ) -> list[tuple[str, str]]:
        errors = self._check_labels("spec.selector", spec.get("selector"))
        kind = spec.get("type")
        if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            errors.append(("spec.type", f"Unsupported value: {kind!r}"))
        ports = spec.get("ports")
        if kind != "ExternalName" and spec.get("clusterIP") != "None" and not ports:
            errors.append(("spec.ports", "Required value"))
        names = [p.get("name") for p in ports or [] if isinstance(p, dict)]
        if len(ports or []) > 1 and (not all(names) or len(set(names)) != len(names)):
            errors.append(
                ("spec.ports", "Required value: ports need unique names when there are several")
            )
        for i, port in enumerate(ports or []):
            number = port.get("port") if isinstance(port, dict) else None
            if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
                errors.append(
                    (
                        f"spec.ports[{i}].port",
                        f"Invalid value: {number!r}: must be between 1 and 65535",
                    )
                )
        if old is not None and old["spec"].get("clusterIP") != spec.get("clusterIP"):
            errors.append(("spec.clusterIP", "Invalid value: field is immutable"))
        return errors

    # ----------------------------------------------------------------- the controller

    def _after_write(self, rt: ResourceType, namespace: str, name: str) -> None:
        if rt is DEPLOYMENTS and (rt, namespace, name) in self._objects:
            self._reconcile(namespace, name)

    def _edit_spec(self, namespace: str, name: str, **changes: Any) -> dict[str, Any]:
        obj = copy.deepcopy(self._objects[(DEPLOYMENTS, namespace, name)])
        obj["spec"].update(changes)
        return obj

    def _owned_replica_sets(self, deploy: Mapping[str, Any]) -> list[dict[str, Any]]:
        uid = deploy["metadata"]["uid"]
        owned = [
            rs
            for rs in self._select(REPLICASETS, deploy["metadata"]["namespace"])
            if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
        ]
        return sorted(owned, key=lambda rs: (_revision(rs), rs["metadata"]["creationTimestamp"]))

    def _reconcile(
        self, namespace: str, name: str, *, advance: bool = False, force_instant: bool = False
    ) -> None:
        deploy = self._objects[(DEPLOYMENTS, namespace, name)]
        script = self._scripts.setdefault((namespace, name), _Script(self.default_mode))
        mode = "instant" if force_instant else script.mode
        spec = deploy["spec"]
        desired = spec["replicas"]
        paused = bool(spec.get("paused"))
        owned = self._owned_replica_sets(deploy)
        key = _template_key(spec["template"])
        new_rs = next((rs for rs in owned if _template_key(rs["spec"]["template"]) == key), None)
        max_revision = max((_revision(rs) for rs in owned), default=0)
        if not paused:
            if new_rs is None:
                new_rs = self._create_replica_set(deploy, max_revision + 1)
            elif _revision(new_rs) < max_revision:  # rollback to an old template: reuse its RS
                annotations = dict(new_rs["metadata"].get("annotations") or {})
                history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
                annotations[REVISION_HISTORY] = ",".join([*history, str(_revision(new_rs))])
                annotations[REVISION] = str(max_revision + 1)
                new_rs = self._write_rs(new_rs, annotations=annotations)
            owned = self._owned_replica_sets(deploy)
            new_rs = next(
                rs for rs in owned if rs["metadata"]["name"] == new_rs["metadata"]["name"]
            )
        old_sets = [
            rs
            for rs in owned
            if new_rs is None or rs["metadata"]["name"] != new_rs["metadata"]["name"]
        ]

        surge, unavailable = self._rolling_limits(spec, desired)
        if paused:
            # No rollout while paused; a scale change still reaches the newest active RS.
            target = new_rs or (max(old_sets, key=_revision) if old_sets else None)
            total = sum(rs["spec"]["replicas"] for rs in owned)
            if target is not None and total != desired:
                replicas = max(0, target["spec"]["replicas"] + desired - total)
                self._write_rs(
                    target,
                    replicas=replicas,
                    ready=min(
                        replicas, _ready(target) if mode in ("stuck", "crashloop") else replicas
                    ),
                )
        else:
            assert new_rs is not None
            if mode in ("stuck", "crashloop") and new_rs["metadata"]["uid"] in self._proven:
                mode = "healthy"  # a ReplicaSet that was fully available before still works
            episode = (new_rs["metadata"]["name"], desired)
            if script.episode != episode or force_instant:
                script.episode, script.elapsed, script.restarts = episode, 0, 0
                script.base_ready = min(_ready(new_rs), desired)
            complete = (
                _ready(new_rs) >= desired
                and new_rs["spec"]["replicas"] == desired
                and all(rs["spec"]["replicas"] == 0 for rs in old_sets)
            )
            if advance and not complete:
                script.elapsed += 1
                if mode == "crashloop":
                    script.restarts += 1
            # Readiness only ever grows within an episode: each mode says by how much.
            ready_now = min(_ready(new_rs), desired)
            base = script.base_ready
            new_ready = {
                "instant": desired,
                "healthy": min(desired, ready_now + (1 if advance and not complete else 0)),
                "slow": desired
                if script.elapsed >= script.ticks
                else max(ready_now, base + (desired - base) * script.elapsed // script.ticks),
            }.get(mode, ready_now)
            # Old pods that are not ready go first (they serve nothing); ready ones are scaled
            # down, oldest ReplicaSet first, as far as the strategy allows.
            recreate = spec["strategy"]["type"] == "Recreate"
            old_ready = [min(rs["spec"]["replicas"], _ready(rs)) for rs in old_sets]
            if recreate:
                keep = 0
            elif mode in ("stuck", "crashloop"):
                keep = max(0, desired - unavailable - new_ready)
            else:
                keep = max(0, desired - new_ready)
            remove = max(0, sum(old_ready) - keep)
            old_plan = []
            for ready in old_ready:
                cut = min(remove, ready)
                remove -= cut
                old_plan.append(ready - cut)
            if mode in ("stuck", "crashloop"):
                limit = desired if recreate else desired + surge - sum(old_plan)
                new_replicas = max(new_ready, min(desired, limit))
            else:
                new_replicas = new_ready
            self._write_rs(
                new_rs,
                replicas=new_replicas,
                ready=new_ready,
                desired=desired,
                surge=surge,
                mode=mode,
                restarts=script.restarts,
            )
            for rs, replicas in zip(old_sets, old_plan, strict=True):
                self._write_rs(rs, replicas=replicas, ready=replicas)
            self._prune_history(deploy)
        self._write_deployment_status(namespace, name, script, paused)

    @staticmethod
    def _rolling_limits(spec: Mapping[str, Any], desired: int) -> tuple[int, int]:
        strategy = spec.get("strategy") or {}
        if strategy.get("type") != "RollingUpdate":
            return 0, desired
        rolling = strategy.get("rollingUpdate") or {}
        surge = _resolve_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
        unavailable = _resolve_percent(
            rolling.get("maxUnavailable", "25%"), desired, round_up=False
        )
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _create_replica_set(self, deploy: Mapping[str, Any], revision: int) -> dict[str, Any]:
        meta, spec = deploy["metadata"], deploy["spec"]
        template_hash = _safe_encode(str(_fnv32a(_template_key(spec["template"]).encode())))
        template = copy.deepcopy(spec["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = (
            template_hash
        )
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = template_hash
        annotations = {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if not k.startswith("kubectl.kubernetes.io/")
        }
        annotations.update({REVISION: str(revision)})
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{template_hash}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template}
            | ({"minReadySeconds": spec["minReadySeconds"]} if "minReadySeconds" in spec else {}),
        }
        return self._create(REPLICASETS, meta["namespace"], body, reconcile=False)

    def _write_rs(
        self,
        rs: dict[str, Any],
        *,
        replicas: int | None = None,
        ready: int | None = None,
        annotations: dict[str, str] | None = None,
        desired: int | None = None,
        surge: int = 0,
        mode: str | None = None,
        restarts: int = 0,
    ) -> dict[str, Any]:
        ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        new = copy.deepcopy(rs)
        if annotations is not None:
            new["metadata"]["annotations"] = annotations
        if desired is not None:
            new["metadata"].setdefault("annotations", {}).update(
                {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + surge)}
            )
        if replicas is not None:
            new["spec"]["replicas"] = replicas
        rs = self._update(REPLICASETS, ns, name, new, reconcile=False)
        count = rs["spec"]["replicas"]
        ready = min(count, _ready(rs) if ready is None else ready)
        status = _omit_zero(
            {
                "replicas": count,
                "fullyLabeledReplicas": count,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"]["generation"],
            },
            ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"),
        )
        status["replicas"] = count
        rs = self._update(REPLICASETS, ns, name, {**rs, "status": status}, subresource="status")
        self._sync_pods(rs, mode, restarts)
        return rs

    def _sync_pods(self, rs: dict[str, Any], mode: str | None, restarts: int) -> None:
        ns = rs["metadata"]["namespace"]
        uid = rs["metadata"]["uid"]
        pods = [
            p
            for p in self._select(PODS, ns)
            if any(ref.get("uid") == uid for ref in p["metadata"].get("ownerReferences") or [])
        ]
        pods.sort(key=lambda p: self._pod_order.get((ns, p["metadata"]["name"]), 0))
        wanted = rs["status"].get("replicas", 0)
        for pod in pods[wanted:]:
            self._remove(PODS, ns, pod["metadata"]["name"], cascade=True)
        for _ in range(len(pods), wanted):
            template = rs["spec"]["template"]
            serial = next(self._pod_ids)
            pod_name = f"{rs['metadata']['name']}-{_suffix(serial)}"
            while (PODS, ns, pod_name) in self._objects:
                serial = next(self._pod_ids)
                pod_name = f"{rs['metadata']['name']}-{_suffix(serial)}"
            self._pod_order[(ns, pod_name)] = serial
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": ns,
                    "labels": dict(template["metadata"].get("labels") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": rs["metadata"]["name"],
                            "uid": uid,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(template["spec"]),
            }
            pods.append(self._create(PODS, ns, body, reconcile=False))
        ready = rs["status"].get("readyReplicas", 0)
        pods = pods[:wanted]
        for i, pod in enumerate(pods):
            if i < ready:
                status = _pod_status(pod, "ready", 0)
            elif mode in ("stuck", "crashloop"):
                status = _pod_status(pod, mode, restarts)
            elif not pod.get("status"):
                status = _pod_status(pod, "stuck", 0)
            else:
                continue  # an old ReplicaSet's unready pod keeps what it showed
            if pod.get("status") != status:
                self._update(
                    PODS,
                    ns,
                    pod["metadata"]["name"],
                    {**pod, "status": status},
                    subresource="status",
                )

    def _prune_history(self, deploy: Mapping[str, Any]) -> None:
        limit = deploy["spec"].get("revisionHistoryLimit", 10)
        owned = self._owned_replica_sets(deploy)
        newest = owned[-1]["metadata"]["name"] if owned else None
        idle = [
            rs
            for rs in owned
            if rs["spec"]["replicas"] == 0
            and not rs["status"].get("replicas")
            and rs["metadata"]["name"] != newest
        ]
        for rs in idle[: max(0, len(idle) - limit)]:
            self._remove(
                REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], cascade=True
            )

    def _write_deployment_status(
        self, namespace: str, name: str, script: _Script, paused: bool
    ) -> None:
        deploy = self._objects[(DEPLOYMENTS, namespace, name)]
        spec = deploy["spec"]
        desired = spec["replicas"]
        owned = self._owned_replica_sets(deploy)
        key = _template_key(spec["template"])
        new_rs = next((rs for rs in owned if _template_key(rs["spec"]["template"]) == key), None)
        total = sum(rs["status"].get("replicas", 0) for rs in owned)
        ready = sum(rs["status"].get("readyReplicas", 0) for rs in owned)
        available = sum(rs["status"].get("availableReplicas", 0) for rs in owned)
        updated = new_rs["status"].get("replicas", 0) if new_rs else 0
        _, unavailable = self._rolling_limits(spec, desired)
        old = deploy.get("status") or {}
        conditions = {c["type"]: c for c in old.get("conditions") or []}
        now = _now()
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = (
            new_rs is not None and updated == desired and total == desired and available == desired
        )
        if complete and new_rs is not None:
            self._proven.add(new_rs["metadata"]["uid"])
        if paused:
            progressing = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif (
            script.mode in ("stuck", "crashloop")
            and script.elapsed >= script.deadline_ticks
            and (new_rs is None or new_rs["metadata"]["uid"] not in self._proven)
        ):
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        minimum = available >= desired - unavailable
        availability = (
            ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if minimum
            else (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        )
        new_conditions = []
        for ctype, (flag, reason, message) in (
            ("Available", availability),
            ("Progressing", progressing),
        ):
            previous = conditions.get(ctype, {})
            same = previous.get("status") == flag
            unchanged = (
                same and previous.get("reason") == reason and previous.get("message") == message
            )
            new_conditions.append(
                {
                    "type": ctype,
                    "status": flag,
                    "lastUpdateTime": previous["lastUpdateTime"] if unchanged else now,
                    "lastTransitionTime": previous["lastTransitionTime"] if same else now,
                    "reason": reason,
                    "message": message,
                }
            )
        status = _omit_zero(
            {
                "observedGeneration": deploy["metadata"]["generation"],
                "replicas": total,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": available,
                # As Kubernetes computes it: desired pods of all ReplicaSets (surge included)
                # minus the available ones.
                "unavailableReplicas": max(
                    0, sum(rs["spec"]["replicas"] for rs in owned) - available
                ),
                "conditions": new_conditions,
            },
            (
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
                "unavailableReplicas",
            ),
        )
        new = copy.deepcopy(deploy)
        new["status"] = status
        if new_rs is not None:
            new["metadata"].setdefault("annotations", {})[REVISION] = new_rs["metadata"][
                "annotations"
            ][REVISION]
        self._update(DEPLOYMENTS, namespace, name, new, subresource="status", reconcile=False)


def _suffix(serial: int) -> str:
    value = _fnv32a(str(serial).encode())
    chars = []
    for _ in range(5):
        value, digit = divmod(value, len(_SAFE))
        chars.append(_SAFE[digit])
    return "".join(chars)


def _revision(rs: Mapping[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _ready(rs: Mapping[str, Any]) -> int:
    return int((rs.get("status") or {}).get("readyReplicas", 0))


def _pod_status(pod: Mapping[str, Any], state: str, restarts: int) -> dict[str, Any]:
    containers = [c["name"] for c in pod["spec"].get("containers") or []]
    start = pod["metadata"]["creationTimestamp"]
    if state == "stuck":
        return {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient cpu.",
                    "lastTransitionTime": start,
                }
            ],
            "qosClass": "BestEffort",
        }
    ready = state == "ready"
    flag = "True" if ready else "False"
    statuses = []
    for cname in containers:
        image = next(c.get("image") for c in pod["spec"]["containers"] if c["name"] == cname)
        entry: dict[str, Any] = {
            "name": cname,
            "image": image,
            "imageID": f"emulated.registry/{image}@sha256:{_fnv32a(str(image).encode()):064x}",
            "ready": ready,
            "started": ready,
            "restartCount": restarts,
        }
        if ready:
            entry["containerID"] = (
                f"containerd://{_fnv32a((pod['metadata']['uid'] + cname).encode()):064x}"
            )
            entry["state"] = {"running": {"startedAt": start}}
        else:
            entry["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off restarting failed container {cname}",
                }
            }
            entry["lastState"] = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": start,
                    "finishedAt": start,
                }
            }
        statuses.append(entry)
    return {
        "phase": "Running",
        "conditions": [
            {
                "type": t,
                "status": "True" if t == "PodScheduled" else flag,
                "lastTransitionTime": start,
            }
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": statuses,
        "hostIP": "10.0.0.2",
        "podIP": "10.244.0.10",
        "startTime": start,
        "qosClass": "BestEffort",
    }
