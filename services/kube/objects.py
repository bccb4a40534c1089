"""Kubernetes objects as the JSON the API server sent (``dict``), not the client's models: a pod
template copied back into a Deployment (``rollout undo``) must keep every field, including
ones newer than this client's models. What the bot reads from them is here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON = "application/json"  # a create or replace: the whole object

REVISION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector object as the ``labelSelector`` query string (``a=b,c in (d,e)``)."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr["key"], expr["operator"]
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def revision_of(obj: Mapping[str, Any]) -> int:
    """The ``deployment.kubernetes.io/revision`` annotation of a Deployment or ReplicaSet (0 if none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get(REVISION, "0"))
    except ValueError:
        return 0


def unready(obj: Mapping[str, Any], label: str) -> list[str]:
    """A workload (Deployment, Rollout) whose ready replicas are not the desired ones."""
    desired = int((obj.get("spec") or {}).get("replicas", 1) or 0)
    ready = int((obj.get("status") or {}).get("readyReplicas") or 0)
    return [] if ready == desired else [f"{label} has {ready} of {desired} desired replicas ready."]
