"""Shared by the Argo Rollouts tests: the Rollout the team runs, and what to read back from it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.k8s.custom import crd_path, rollout_schema
from tests.harness.k8s_emulator import K8sEmulator

NS = "prod"
NAME = "payments"
REPO = "registry.example.com/payments"
PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/{NAME}"
CANARY_STEPS = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
]


def require_crd() -> None:
    """Skip (with the reason) where ../shared/specs does not hold the Rollout CRD."""
    if rollout_schema() is None:
        pytest.skip(f"the Argo Rollouts CRD is absent ({crd_path()}): Rollouts are not served")


def add_rollout(
    k8s: K8sEmulator, *, strategy: dict[str, Any] | None = None, version: str = "v2.1.0"
) -> dict[str, Any]:
    return k8s.add_rollout(
        NS,
        NAME,
        image=f"{REPO}:{version}",
        strategy=strategy or {"canary": {"steps": CANARY_STEPS}},
    )


def blue_green(k8s: K8sEmulator, *, auto_promotion: bool = False) -> dict[str, Any]:
    for service in ("payments-active", "payments-preview"):
        k8s.add_service(NS, service, {"app": NAME})
    return add_rollout(
        k8s,
        strategy={
            "blueGreen": {
                "activeService": "payments-active",
                "previewService": "payments-preview",
                "autoPromotionEnabled": auto_promotion,
            }
        },
    )


def rollout(k8s: K8sEmulator) -> dict[str, Any]:
    found = k8s.get("Rollout", NS, NAME)
    assert found is not None
    return found


def rollout_image(k8s: K8sEmulator) -> str:
    return str(rollout(k8s)["spec"]["template"]["spec"]["containers"][0]["image"])


def rollout_status(k8s: K8sEmulator) -> dict[str, Any]:
    return dict(rollout(k8s).get("status") or {})


def bot_writes(k8s: K8sEmulator) -> list[tuple[str, str, Any]]:
    """(method, path under the Rollout, body) of every write to the Rollout."""
    return [
        (r.method, r.path[len(PATH) :], r.body)
        for r in k8s.requests
        if r.method != "GET" and r.path.startswith(PATH)
    ]
