"""What the emulated cluster runs now, read the way `kubectl get` shows it (the tests' own
reads: not recorded as the bot's requests)."""

from __future__ import annotations

from typing import Any

from tests.harness.k8s_emulator import K8sEmulator

NAMESPACE = "prod"  # where the deploy tests put their workloads


def deployment(k8s: K8sEmulator, name: str, *, namespace: str = NAMESPACE) -> dict[str, Any]:
    found = k8s.get("deploy", namespace, name)
    assert found is not None, f"no Deployment {namespace}/{name}"
    return found


def image(
    k8s: K8sEmulator, name: str, *, container: str | None = None, namespace: str = NAMESPACE
) -> str:
    """The image of the Deployment's pod template: its first container's, or ``container``'s."""
    containers = deployment(k8s, name, namespace=namespace)["spec"]["template"]["spec"][
        "containers"
    ]
    return str(next(c["image"] for c in containers if container in (None, c["name"])))


def replicas(k8s: K8sEmulator, name: str, *, namespace: str = NAMESPACE) -> int:
    """The Deployment's desired replicas (spec.replicas)."""
    return int(deployment(k8s, name, namespace=namespace)["spec"]["replicas"])
