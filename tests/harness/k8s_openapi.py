"""Check Kubernetes API requests against the real Kubernetes OpenAPI v2 spec.

The spec lives outside the repository, in ``<repo>/../shared/specs/`` (a sibling
folder of the clone in CI). ``load_spec()`` answers None where it is absent, so
callers can skip with a message.

``validate_request`` lists what is wrong with one request:

* the path must match a path template of the spec (or, for API groups the spec
  does not know, such as networking.istio.io, the generic custom-object paths),
  and that path must have an operation for the HTTP method;
* every query parameter must be declared for that operation;
* a PATCH content type must be one the operation ``consumes`` (custom objects
  take no strategic merge patch, as in Kubernetes);
* a POST/PUT body must validate, with jsonschema, against the operation's body
  definition - with unknown fields rejected (the spec leaves
  ``additionalProperties`` open; the API server drops or refuses such fields),
  int-or-string and Quantity accepting numbers, ``null`` meaning "unset",
  Time and MicroTime in the layouts the API server parses, and
  apiVersion/kind matching the operation's group-version-kind;
* a strategic-merge or merge patch is a partial object: its keys must be
  properties of the resource definition, recursively, with scalar types
  checked and nothing required; a JSON patch's operations must be well formed
  and their paths must walk through known fields.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl

from jsonschema import Draft4Validator

__all__ = ["load_spec", "spec_path", "validate_object", "validate_request", "validate_requests"]

SPEC_FILE = "kubernetes-openapi-v2.json"

_PATCH_TYPES = {
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+cbor",
}
_TIME_PATTERNS = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": (
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
    ),
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": (
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$"
    ),
}
_JSON_PATCH_OPS = {"add", "remove", "replace", "move", "copy", "test"}
_SMP_DIRECTIVES = ("$patch", "$retainKeys")
_SMP_LIST_DIRECTIVES = ("$setElementOrder/", "$deleteFromPrimitiveList/")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def spec_path(root: str | Path | None = None) -> Path:
    """``<repo root>/../shared/specs/kubernetes-openapi-v2.json``."""
    return Path(root or repo_root()).parent / "shared" / "specs" / SPEC_FILE


def load_spec(path: str | Path | None = None) -> dict[str, Any] | None:
    """The parsed spec (cached), or None when the file is absent."""
    return _load(str(Path(path) if path else spec_path()))


@functools.cache
def _load(path: str) -> dict[str, Any] | None:
    file = Path(path)
    if not file.is_file():
        return None
    return json.loads(file.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- compiled spec


def _transform(node: Any) -> Any:
    """Make the spec's schemas say what the API server enforces."""
    if isinstance(node, list):
        return [_transform(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "description":
            continue
        if key == "properties":
            out[key] = {name: _transform(schema) for name, schema in value.items()}
        else:
            out[key] = _transform(value)
    if out.get("format") == "int-or-string":
        out["type"] = ["integer", "string"]
        del out["format"]
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


_CUSTOM_PARAMS = {
    ("collection", "get"): {
        "pretty",
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "timeoutSeconds",
        "watch",
        "sendInitialEvents",
    },
    ("collection", "post"): {"pretty", "dryRun", "fieldManager", "fieldValidation"},
    ("collection", "delete"): {
        "pretty",
        "labelSelector",
        "gracePeriodSeconds",
        "orphanDependents",
        "propagationPolicy",
        "dryRun",
    },
    ("item", "get"): set(),
    ("item", "put"): {"dryRun", "fieldManager", "fieldValidation"},
    ("item", "patch"): {"dryRun", "fieldManager", "fieldValidation", "force"},
    ("item", "delete"): {"gracePeriodSeconds", "orphanDependents", "propagationPolicy", "dryRun"},
    ("subresource", "get"): set(),
    ("subresource", "put"): {"dryRun", "fieldManager", "fieldValidation"},
    ("subresource", "patch"): {"dryRun", "fieldManager", "fieldValidation", "force"},
}
_CUSTOM_CONSUMES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
]


class _Compiled:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        definitions = _transform(spec.get("definitions") or {})
        quantity = definitions.get("io.k8s.apimachinery.pkg.api.resource.Quantity")
        if quantity is not None:
            quantity["type"] = ["string", "number"]
        # The spec says only "date-time"; the API server parses Go layouts: Time is RFC 3339,
        # MicroTime needs exactly six fractional digits (a Lease's renewTime without them is a 400).
        for definition, pattern in _TIME_PATTERNS.items():
            if definition in definitions:
                definitions[definition]["pattern"] = pattern
        self.definitions: dict[str, Any] = definitions
        self.parameters: Mapping[str, Any] = spec.get("parameters") or {}
        self.routes: dict[int, list[tuple[tuple[str | None, ...], str, Mapping[str, Any]]]] = {}
        self.groups: set[str] = set()
        for template, item in (spec.get("paths") or {}).items():
            segments = tuple(
                None if s.startswith("{") and s.endswith("}") else s
                for s in template.strip("/").split("/")
            )
            self.routes.setdefault(len(segments), []).append((segments, template, item))
            if len(segments) >= 2 and segments[0] == "apis" and segments[1]:
                self.groups.add(segments[1])
        self.validators: dict[str, Draft4Validator] = {}

    def route(self, path: str) -> tuple[str, Mapping[str, Any]] | None:
        parts = path.strip("/").split("/")
        best: tuple[int, str, Mapping[str, Any]] | None = None
        for segments, template, item in self.routes.get(len(parts), ()):
            pairs = list(zip(segments, parts, strict=True))
            if all(part if seg is None else seg == part for seg, part in pairs):
                literal = sum(seg is not None for seg in segments)
                if best is None or literal > best[0]:
                    best = (literal, template, item)
        return (best[1], best[2]) if best else None

    def param(self, param: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = param.get("$ref")
        if ref:
            resolved: Mapping[str, Any] = self.parameters.get(ref.rsplit("/", 1)[-1], {})
            return resolved
        return param

    def definition(self, ref: str) -> Any:
        return self.definitions.get(ref.rsplit("/", 1)[-1])

    def validator(self, name: str) -> Draft4Validator:
        validator = self.validators.get(name)
        if validator is None:
            schema = {"$ref": f"#/definitions/{name}", "definitions": self.definitions}
            validator = self.validators[name] = Draft4Validator(schema)
        return validator

    def deref(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            schema = self.definition(schema["$ref"]) or {}
            seen += 1
        return schema


_COMPILED: dict[int, tuple[Mapping[str, Any], _Compiled]] = {}


def _compiled(spec: Mapping[str, Any]) -> _Compiled:
    entry = _COMPILED.get(id(spec))
    if entry is None or entry[0] is not spec:
        entry = _COMPILED[id(spec)] = (spec, _Compiled(spec))
    return entry[1]


# --------------------------------------------------------------------------- validation


class _Request(Protocol):
    method: str
    path: str
    query: Mapping[str, Any]
    content_type: str | None
    body: Any


def validate_requests(spec: Mapping[str, Any], requests: Iterable[_Request]) -> list[str]:
    """Problems of many recorded requests, each prefixed with its method and path."""
    problems = []
    for req in requests:
        for problem in validate_request(
            spec, req.method, req.path, req.query, req.content_type, req.body
        ):
            problems.append(f"{req.method} {req.path}: {problem}")
    return problems


def validate_object(spec: Mapping[str, Any], definition: str, obj: Any) -> list[str]:
    """Problems of a whole object against a definition, e.g. ``io.k8s.api.apps.v1.Deployment``."""
    compiled = _compiled(spec)
    if definition not in compiled.definitions:
        return [f"the spec has no definition {definition!r}"]
    errors = sorted(
        compiled.validator(definition).iter_errors(_drop_nulls(obj)),
        key=lambda e: [str(part) for part in e.absolute_path],
    )
    return [f"{_where(e.absolute_path)}: {e.message} ({definition})" for e in errors[:20]]


def validate_request(
    spec: Mapping[str, Any],
    method: str,
    path: str,
    query: Mapping[str, Any] | Iterable[str] | str | None,
    content_type: str | None,
    body: Any,
) -> list[str]:
    """What is wrong with this request according to the Kubernetes API spec ([] if nothing)."""
    compiled = _compiled(spec)
    method = method.lower()
    if "?" in path:
        path, _, raw_query = path.partition("?")
        query = {
            **_query_names(query),
            **dict.fromkeys(k for k, _ in parse_qsl(raw_query, keep_blank_values=True)),
        }
    names = set(_query_names(query))
    media = (content_type or "").split(";")[0].strip().lower()
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "apis" and parts[1] not in compiled.groups:
        return _validate_custom(parts, method, names, media, body)
    route = compiled.route(path)
    if route is None:
        return [f"no path of the Kubernetes API matches {path!r}"]
    template, item = route
    operation = item.get(method)
    if not isinstance(operation, dict):
        allowed = sorted(m.upper() for m in item if m != "parameters")
        return [f"{method.upper()} is not an operation of {template} (it has {', '.join(allowed)})"]
    problems: list[str] = []
    params = [
        compiled.param(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]
    ]
    declared = {p.get("name") for p in params if p.get("in") == "query"}
    for name in sorted(names - declared):
        problems.append(f"query parameter {name!r} is not declared for {method.upper()} {template}")
    consumes = operation.get("consumes") or ["*/*"]
    if method == "patch" and media not in consumes:
        problems.append(
            f"content type {content_type!r} is not one {template} PATCH consumes: {consumes}"
        )
    body_param = next((p for p in params if p.get("in") == "body"), None)
    if body_param is None:
        if body not in (None, "", {}) and method != "delete":
            problems.append(f"{method.upper()} {template} takes no body")
        return problems
    if body is None:
        if body_param.get("required"):
            problems.append(f"{method.upper()} {template} needs a body")
        return problems
    if method in ("post", "put"):
        ref = (body_param.get("schema") or {}).get("$ref")
        if ref:
            problems += _validate_object(compiled, ref.rsplit("/", 1)[-1], operation, body)
    elif method == "patch":
        ref = ((operation.get("responses") or {}).get("200", {}).get("schema") or {}).get("$ref")
        if ref and media in _PATCH_TYPES:
            problems += _validate_patch(compiled, ref.rsplit("/", 1)[-1], media, body)
    return problems


def _query_names(query: Mapping[str, Any] | Iterable[str] | str | None) -> dict[str, None]:
    if query is None:
        return {}
    if isinstance(query, str):
        return dict.fromkeys(k for k, _ in parse_qsl(query, keep_blank_values=True))
    return dict.fromkeys(query)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _where(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(body)"


def _validate_object(
    compiled: _Compiled, name: str, operation: Mapping[str, Any], body: Any
) -> list[str]:
    if not isinstance(body, dict):
        return [f"the body must be a JSON object ({name})"]
    problems = []
    gvk = operation.get("x-kubernetes-group-version-kind")
    if isinstance(gvk, dict):
        api_version = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else gvk.get("version")
        if body.get("apiVersion") not in (None, api_version):
            problems.append(f"apiVersion {body.get('apiVersion')!r} should be {api_version!r}")
        if body.get("kind") not in (None, gvk.get("kind")):
            problems.append(f"kind {body.get('kind')!r} should be {gvk.get('kind')!r}")
    return problems + validate_object(compiled.spec, name, body)


def _validate_patch(compiled: _Compiled, name: str, media: str, body: Any) -> list[str]:
    problems: list[str] = []
    root = {"$ref": f"#/definitions/{name}"}
    if media == "application/json-patch+json":
        if not isinstance(body, list):
            return ["a JSON patch body must be a list of operations"]
        for i, op in enumerate(body):
            if (
                not isinstance(op, dict)
                or op.get("op") not in _JSON_PATCH_OPS
                or not isinstance(op.get("path"), str)
            ):
                problems.append(f"operation {i} is not a JSON patch operation: {op!r}")
                continue
            for key in ("path", "from") if op["op"] in ("move", "copy") else ("path",):
                schema = _walk_pointer(
                    compiled, root, op.get(key), f"operation {i} {key}", problems
                )
                if key == "path" and schema is not None and op["op"] in ("add", "replace", "test"):
                    if "value" not in op:
                        problems.append(f"operation {i} ({op['op']}) has no value")
                    else:
                        _check_partial(
                            compiled, schema, op["value"], [op["path"]], problems, smp=False
                        )
        return problems
    if media in ("application/apply-patch+yaml", "application/apply-patch+cbor"):
        return problems
    if not isinstance(body, dict):
        return [f"a {media} body must be a JSON object"]
    _check_partial(
        compiled, root, body, [], problems, smp=media == "application/strategic-merge-patch+json"
    )
    return problems


def _walk_pointer(
    compiled: _Compiled, schema: Any, pointer: Any, label: str, problems: list[str]
) -> Any:
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        problems.append(f"{label} {pointer!r} is not a JSON pointer")
        return None
    tokens = (
        [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")] if pointer else []
    )
    for depth, token in enumerate(tokens):
        schema = compiled.deref(schema)
        kind = schema.get("type") if isinstance(schema, dict) else None
        if isinstance(schema, dict) and "properties" in schema:
            if token not in schema["properties"]:
                problems.append(
                    f"{label} {pointer!r}: {token!r} is not a known field at /{'/'.join(tokens[:depth])}"
                )
                return None
            schema = schema["properties"][token]
        elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        elif kind == "array":
            if not re.fullmatch(r"-|0|[1-9][0-9]*", token):
                problems.append(f"{label} {pointer!r}: {token!r} is not an array index")
                return None
            schema = schema.get("items") or {}
        elif kind == "object" or not kind:
            return {}  # free-form (RawExtension and the like): anything below is fine
        else:
            problems.append(
                f"{label} {pointer!r}: cannot go below a {kind} at /{'/'.join(tokens[:depth])}"
            )
            return None
    return schema


_SCALARS = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
}


def _check_partial(
    compiled: _Compiled, schema: Any, value: Any, path: list[Any], problems: list[str], *, smp: bool
) -> None:
    if value is None:
        return  # null deletes the field in a merge patch
    schema = compiled.deref(schema)
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if "properties" in schema:
        if not isinstance(value, dict):
            problems.append(f"{_where(path)}: expected an object, got {json.dumps(value)[:60]}")
            return
        properties = schema["properties"]
        for key, item in value.items():
            if smp and key.startswith("$"):
                if key in _SMP_DIRECTIVES:
                    continue
                prefix = next((p for p in _SMP_LIST_DIRECTIVES if key.startswith(p)), None)
                if prefix is None:
                    problems.append(
                        f"{_where([*path, key])}: unknown strategic merge patch directive"
                    )
                elif key[len(prefix) :] not in properties:
                    problems.append(
                        f"{_where([*path, key])}: {key[len(prefix) :]!r} is not a known field"
                    )
                continue
            if key not in properties:
                problems.append(
                    f"{_where([*path, key])}: unknown field (not a property of the resource)"
                )
                continue
            _check_partial(compiled, properties[key], item, [*path, key], problems, smp=smp)
        return
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{_where(path)}: expected an object, got {json.dumps(value)[:60]}")
            return
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if not (smp and key.startswith("$")):
                    _check_partial(compiled, extra, item, [*path, key], problems, smp=smp)
        return
    if kind == "array":
        if not isinstance(value, list):
            problems.append(f"{_where(path)}: expected a list, got {json.dumps(value)[:60]}")
            return
        for i, item in enumerate(value):
            if (
                smp
                and isinstance(item, dict)
                and item.get("$patch") in ("replace", "delete")
                and len(item) == 1
            ):
                continue
            _check_partial(compiled, schema.get("items") or {}, item, [*path, i], problems, smp=smp)
        return
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_SCALARS.get(k, lambda v: True)(value) for k in kinds):
        problems.append(
            f"{_where(path)}: {json.dumps(value)[:60]} is not of type {' or '.join(kinds)}"
        )


def _validate_custom(
    parts: list[str], method: str, names: set[str], media: str, body: Any
) -> list[str]:
    """Custom resources have no schema in the spec: check the generic custom-object API shape."""
    group, version, rest = parts[1], parts[2], parts[3:]
    template = "/apis/{group}/{version}"
    if len(rest) >= 2 and rest[0] == "namespaces":
        rest = rest[2:]
        template += "/namespaces/{namespace}"
    shape = {1: "collection", 2: "item", 3: "subresource"}.get(len(rest))
    if shape is None or (shape == "subresource" and rest[2] not in ("status", "scale")):
        return [
            f"/{'/'.join(parts)} is not a custom object path ({template}/{{plural}}[/{{name}}[/status|/scale]])"
        ]
    template += {
        "collection": "/{plural}",
        "item": "/{plural}/{name}",
        "subresource": f"/{{plural}}/{{name}}/{rest[-1]}",
    }[shape]
    declared = _CUSTOM_PARAMS.get((shape, method))
    if declared is None:
        return [f"{method.upper()} is not an operation of {template}"]
    problems = [
        f"query parameter {n!r} is not declared for {method.upper()} {template}"
        for n in sorted(names - declared)
    ]
    if method == "patch":
        if media not in _CUSTOM_CONSUMES:
            problems.append(
                f"content type {media!r} is not one custom objects accept: {_CUSTOM_CONSUMES}"
            )
        if media == "application/json-patch+json" and not isinstance(body, list):
            problems.append("a JSON patch body must be a list of operations")
        elif media == "application/merge-patch+json" and not isinstance(body, dict):
            problems.append("a merge patch body must be a JSON object")
    if method in ("post", "put") and shape != "subresource":
        if not isinstance(body, dict):
            problems.append("the body must be a JSON object")
        else:
            if body.get("apiVersion") != f"{group}/{version}":
                problems.append(
                    f"apiVersion {body.get('apiVersion')!r} should be {group + '/' + version!r}"
                )
            if not body.get("kind"):
                problems.append("the body has no kind")
    return problems
