"""Defaulting and validation on every write, dispatched by API family; apps/v1 workloads here."""

from __future__ import annotations

import re
from typing import Any

from tests.harness.k8s.coordination import micro_time, validate_lease
from tests.harness.k8s.core import default_pod_spec, validate_pod_spec, validate_service
from tests.harness.k8s.custom import StructuralSchema, immutable_selector, rollout_schema
from tests.harness.k8s.errors import ApiError, invalid
from tests.harness.k8s.labels import (
    DNS_1035_RE,
    DNS_SUBDOMAIN_RE,
    check_labels,
    label_selector_matches,
    selector_requirements,
)
from tests.harness.k8s.resources import (
    DEPLOYMENTS,
    LEASES,
    PODS,
    REPLICASETS,
    ROLLOUTS,
    SERVICES,
    VIRTUAL_SERVICES,
    ResourceType,
)
from tests.harness.k8s.state import EmulatorState
from tests.harness.k8s.util import resolve_percent


class ValidationMixin(EmulatorState):
    """What the API server's registry strategies do before storing: default, then validate."""

    def _default(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if rt is ROLLOUTS:
            schema = self._crd_schema(rt)
            where = f"{rt.kind} {obj['metadata'].get('namespace')}/{obj['metadata'].get('name')}"
            self.pruned += [f"{where}: {path}" for path in schema.prune(obj)]
            schema.default(obj)
            return
        spec = obj.get("spec")
        if rt is LEASES and isinstance(spec, dict):
            for key in ("acquireTime", "renewTime"):
                if spec.get(key) is not None:
                    spec[key] = micro_time(rt, spec[key])
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
                default_pod_spec(template["spec"])
        elif rt is PODS and isinstance(spec, dict):
            default_pod_spec(spec)
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

    def _validate(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj["metadata"]
        name = meta["name"]
        errors: list[tuple[str, ...]] = []
        name_re, name_rule = (
            (DNS_1035_RE, "a DNS-1035 label")
            if rt is SERVICES
            else (DNS_SUBDOMAIN_RE, "a lowercase RFC 1123 subdomain")
        )
        if (
            not isinstance(name, str)
            or not name_re.match(name)
            or len(name) > (63 if rt is SERVICES else 253)
        ):
            errors.append(("metadata.name", f"Invalid value: {name!r}: must be {name_rule}"))
        errors += check_labels("metadata.labels", meta.get("labels"))
        annotations = meta.get("annotations")
        if annotations is not None and (
            not isinstance(annotations, dict)
            or not all(isinstance(v, str) for v in annotations.values())
        ):
            errors.append(("metadata.annotations", "Invalid value: must be a map of strings"))
        spec: Any = obj.get("spec")
        if rt is ROLLOUTS:
            errors += self._crd_schema(rt).errors(obj) + immutable_selector(obj, old)
        elif rt is LEASES:  # spec is optional (a struct, not a pointer, in Go)
            errors += validate_lease(spec)
        elif rt is not VIRTUAL_SERVICES and not isinstance(spec, dict):
            errors.append(("spec", "Required value"))
        elif rt in (DEPLOYMENTS, REPLICASETS):
            errors += self._validate_workload(rt, spec, old)
        elif rt is PODS:
            errors += validate_pod_spec("spec", spec)
        elif rt is SERVICES:
            errors += validate_service(spec, old)
        elif spec is not None and not isinstance(spec, dict):
            errors.append(("spec", "Invalid value: must be an object"))
        if errors:
            raise invalid(rt, name, errors)

    @staticmethod
    def _crd_schema(rt: ResourceType) -> StructuralSchema:
        schema = rollout_schema()
        if schema is None:  # the CRD is not installed: the API server does not know the path
            raise ApiError(404, "the server could not find the requested resource")
        return schema

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
            errors += check_labels("spec.template.metadata.labels", labels)
            try:
                matches = label_selector_matches(selector_requirements(selector), labels)
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
            errors += validate_pod_spec("spec.template.spec", template.get("spec"))
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
                        values.append(resolve_percent(value, 100, round_up=key == "maxSurge"))
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
