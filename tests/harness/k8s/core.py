"""core/v1 Pods and Services: defaulting and validation."""

from __future__ import annotations

from typing import Any

from tests.harness.k8s.labels import DNS_LABEL_RE, check_labels
from tests.harness.k8s.patches import CONTAINER_LISTS


def default_pod_spec(pod: dict[str, Any]) -> None:
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("terminationGracePeriodSeconds", 30)
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("schedulerName", "default-scheduler")
    pod.setdefault("securityContext", {})
    for key in CONTAINER_LISTS:
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


def validate_pod_spec(path: str, pod: Any) -> list[tuple[str, str]]:
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
        if not isinstance(cname, str) or not DNS_LABEL_RE.match(cname):
            errors.append((f"{where}.name", f"Invalid value: {cname!r}: must be a DNS label"))
        elif cname in seen:
            errors.append((f"{where}.name", f"Duplicate value: {cname!r}"))
        seen.add(cname)
        if not container.get("image") or not isinstance(container.get("image"), str):
            errors.append((f"{where}.image", "Required value"))
        for j, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
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


def validate_service(spec: dict[str, Any], old: dict[str, Any] | None) -> list[tuple[str, str]]:
    errors = check_labels("spec.selector", spec.get("selector"))
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
