"""Objects in memory: list, create, replace, delete, patch - resourceVersion and generation."""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from tests.harness.k8s.errors import ApiError, conflict, invalid, not_found
from tests.harness.k8s.labels import label_selector_matches, parse_label_selector
from tests.harness.k8s.patches import (
    JSON_PATCH,
    MERGE_PATCH,
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from tests.harness.k8s.resources import DEPLOYMENTS, PODS, ResourceType
from tests.harness.k8s.state import EmulatorState
from tests.harness.k8s.util import canonical, safe_encode, timestamp


class StoreMixin(EmulatorState):
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
            raise not_found(rt, name)
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
            meta["name"] = meta["generateName"] + safe_encode(uuid.uuid4().hex)[:5]
        name = meta.get("name")
        if not name:
            raise invalid(
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
            creationTimestamp=timestamp(),
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
            raise conflict(rt, name)
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
        if canonical(new) == canonical(old):
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
            raise conflict(rt, name)
        if preconditions.get("uid") not in (None, obj["metadata"]["uid"]):
            raise conflict(rt, name)
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
