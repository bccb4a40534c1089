"""What a pod template runs: image references (``repository:tag``) and containers.

Deployments and ReplicaSets come as the API server's JSON (services.kube.objects).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from services.kube.objects import POD_TEMPLATE_HASH, Obj

# An image tag as the OCI distribution spec allows it (what a version becomes on the image).
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# An image repository without tag or digest: [registry[:port]/]path/components.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*")


def split_image(image: str) -> tuple[str, str | None]:
    """``registry:5000/team/app:v1@sha256:…`` → (``registry:5000/team/app``, ``v1``)."""
    name = image.split("@", 1)[0]
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return name[:colon], name[colon + 1 :]
    return name, None


def image_problems(repository: str, version: str, *, setting: str) -> list[str]:
    """Why `repository:version` is no image reference; `setting` names the configured key."""
    problems = []
    if not TAG.fullmatch(version):
        problems.append(
            f"{version[:60]!r} is not an image tag (letters, digits, '.', '_', '-'; at most 128)."
        )
    if not REPOSITORY.fullmatch(repository):
        problems.append(
            f"{setting} {repository!r} is not an image repository without tag or digest"
            " (e.g. registry.example.com/team/payments)."
        )
    return problems


def containers(obj: Mapping[str, Any]) -> list[Obj]:
    """The containers of a Deployment's or ReplicaSet's pod template."""
    template = (obj.get("spec") or {}).get("template") or {}
    found: list[Obj] = (template.get("spec") or {}).get("containers") or []
    return found


def image_of(obj: Mapping[str, Any], container: str) -> str | None:
    for item in containers(obj):
        if item.get("name") == container:
            image = item.get("image")
            return str(image) if image else None
    return None


def same_template(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Pod templates compared as kubectl does: ignoring the pod-template-hash label."""

    def canonical(template: Mapping[str, Any]) -> str:
        copied = copy.deepcopy(dict(template))
        labels = (copied.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop(POD_TEMPLATE_HASH, None)
        return json.dumps(copied, sort_keys=True)

    return canonical(a) == canonical(b)
