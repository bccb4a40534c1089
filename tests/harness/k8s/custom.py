"""Custom resources checked against their CustomResourceDefinition, as the API server does.

For a CRD's structural schema (``openAPIV3Schema``) the API server, on every create, update
and patch (of the object or of its ``/status``), in this order:

1. prunes fields the schema does not declare, except under
   ``x-kubernetes-preserve-unknown-fields: true`` (the default ``fieldValidation=Warn`` answers
   a warning; the emulator records the pruned paths in ``K8sEmulator.pruned`` instead, so a
   test sees a write that lost a field), and drops ``null`` where the field is not
   ``nullable``;
2. applies the schema's ``default`` values;
3. validates the result - with a real JSON-schema validator here (``jsonschema``), honouring
   ``x-kubernetes-int-or-string`` and ``x-kubernetes-preserve-unknown-fields`` - and answers
   ``422 Invalid`` with one cause per error (``FieldValueInvalid``, ``FieldValueRequired``,
   ``FieldValueNotSupported``), the field written as ``spec.steps[0].setWeight``.

Not evaluated: ``format`` (int32 ranges, date-time layouts), ``x-kubernetes-list-type``
uniqueness, and CEL ``x-kubernetes-validations`` other than the Rollout's one rule (its
selector is immutable), which ``immutable_selector`` implements.

Istio's VirtualService CRD is not in the shared specs: VirtualServices are stored as sent.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

Cause = tuple[str, str, str]  # (field, message, reason)

CRD_FILE = Path("argo-rollouts") / "rollout-crd.yaml"


def crd_path() -> Path:
    """``<repo root>/../shared/specs/argo-rollouts/rollout-crd.yaml``."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "specs" / CRD_FILE


@functools.cache
def rollout_schema() -> StructuralSchema | None:
    """The Rollout CRD's schema, or None when the shared specs are absent."""
    path = crd_path()
    if not path.is_file():
        return None
    crd = yaml.safe_load(path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return StructuralSchema(version["schema"]["openAPIV3Schema"])


def field_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class StructuralSchema:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.validator = Draft7Validator(_as_json_schema(schema))

    def prune(self, obj: dict[str, Any]) -> list[str]:
        """Drop undeclared fields and non-nullable nulls in place; the paths dropped."""
        pruned: list[str] = []
        # apiVersion, kind and metadata are the API server's business, not the schema's.
        for key in list(obj):
            if key in ("apiVersion", "kind", "metadata"):
                continue
            if key not in self.schema["properties"]:
                pruned.append(key)
                del obj[key]
            else:
                _prune(obj, key, self.schema["properties"][key], [key], pruned)
        return pruned

    def default(self, obj: dict[str, Any]) -> None:
        _default(obj, self.schema)

    def errors(self, obj: dict[str, Any]) -> list[Cause]:
        body = {k: v for k, v in obj.items() if k != "metadata"}
        return [_cause(e) for e in sorted(self.validator.iter_errors(body), key=_order)]


def _prune(parent: Any, key: Any, schema: dict[str, Any], path: list[Any], out: list[str]) -> None:
    value = parent[key]
    if value is None:
        if not schema.get("nullable"):
            del parent[key]
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        for name in list(value):
            if props is not None and name in props:
                _prune(value, name, props[name], [*path, name], out)
            elif isinstance(extra, dict):
                _prune(value, name, extra, [*path, name], out)
            elif props is not None and not preserve and extra is not True:
                out.append(field_path([*path, name]))
                del value[name]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i in reversed(range(len(value))):
            _prune(value, i, schema["items"], [*path, i], out)


def _default(value: Any, schema: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default(value[name], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for item in value.values():
                _default(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(item, schema["items"])


def _as_json_schema(node: Any) -> Any:
    """The OpenAPI v3 subset of a CRD as JSON Schema draft 7 (the validation keywords are the
    same; ``nullable`` and the ``x-kubernetes-*`` extensions need translating)."""
    if isinstance(node, list):
        return [_as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _as_json_schema(v)
        for k, v in node.items()
        if k not in ("description", "format", "nullable", "default") and not k.startswith("x-")
    }
    if "properties" in node:  # a property called "properties" must not be mistaken for one
        out["properties"] = {k: _as_json_schema(v) for k, v in node["properties"].items()}
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _order(error: ValidationError) -> tuple[str, str]:
    return field_path(error.absolute_path), error.message


def _cause(error: ValidationError) -> Cause:
    where = field_path(error.absolute_path)
    shown = json.dumps(error.instance) if not isinstance(error.instance, dict | list) else None
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return (field_path([*error.absolute_path, missing]), "Required value", "FieldValueRequired")
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value)
        return (
            where,
            f"Unsupported value: {shown}: supported values: {allowed}",
            "FieldValueNotSupported",
        )
    if error.validator == "type":
        wanted = error.validator_value
        wanted = wanted[0] if isinstance(wanted, list) else wanted
        kind = type_name(error.instance)
        return (
            where,
            f'Invalid value: "{kind}": {where} in body must be of type {wanted}: "{kind}"',
            "FieldValueTypeInvalid",
        )
    value = shown if shown is not None else f'"{type_name(error.instance)}"'
    return (where, f"Invalid value: {value}: {where} in body {error.message}", "FieldValueInvalid")


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def immutable_selector(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """The CRD's CEL rule on spec.selector: ``self == oldSelf``."""
    if old is None:
        return []
    if (obj.get("spec") or {}).get("selector") == (old.get("spec") or {}).get("selector"):
        return []
    return [
        (
            "spec.selector",
            'Invalid value: "object": .spec.selector is immutable',
            "FieldValueInvalid",
        )
    ]
