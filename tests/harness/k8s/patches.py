"""The three PATCH bodies: RFC 7386 merge patch, RFC 6902 JSON patch, Kubernetes' strategic
merge patch."""

from __future__ import annotations

import copy
import re
from typing import Any

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class PatchError(Exception):
    """A patch that cannot be applied; ``code`` is 400 (malformed) or 422."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


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
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_PRIMITIVE_MERGE = ("finalizers",)


def _merge_key(kind: str, path: tuple[str, ...], field_name: str) -> str | None:
    if field_name == "ports":
        if path and path[-1] in CONTAINER_LISTS:
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
