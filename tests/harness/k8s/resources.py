"""The resource types the emulator serves, and how clients may name them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    short_names: tuple[str, ...] = ()
    builtin: bool = True  # strategic merge patch exists only for built-in types
    subresources: frozenset[str] = frozenset({"status"})
    # The registry strategy's AllowCreateOnUpdate / AllowUnconditionalUpdate.
    create_on_update: bool = False
    unconditional_update: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """What Kubernetes' messages call it: ``deployments.apps``, ``services``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_qualified(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


DEPLOYMENTS = ResourceType(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    ("deploy",),
    subresources=frozenset({"status", "scale"}),
)
REPLICASETS = ResourceType(
    "apps", "v1", "replicasets", "ReplicaSet", ("rs",), subresources=frozenset({"status", "scale"})
)
SERVICES = ResourceType("", "v1", "services", "Service", ("svc",))
PODS = ResourceType("", "v1", "pods", "Pod", ("po",))
VIRTUAL_SERVICES = ResourceType(
    "networking.istio.io", "v1beta1", "virtualservices", "VirtualService", ("vs",), builtin=False
)
# Argo Rollouts (the CRD in ../shared/specs/argo-rollouts): status and scale subresources.
ROLLOUTS = ResourceType(
    "argoproj.io",
    "v1alpha1",
    "rollouts",
    "Rollout",
    ("ro",),
    builtin=False,
    subresources=frozenset({"status", "scale"}),
)
# Leases (client-go leader election): a PUT of an absent Lease creates it, and a PUT must
# carry metadata.resourceVersion (422 without), as pkg/registry/coordination/lease says.
LEASES = ResourceType(
    "coordination.k8s.io",
    "v1",
    "leases",
    "Lease",
    subresources=frozenset(),
    create_on_update=True,
    unconditional_update=False,
)
TYPES = (DEPLOYMENTS, REPLICASETS, SERVICES, PODS, VIRTUAL_SERVICES, ROLLOUTS, LEASES)
BY_PATH = {(rt.group, rt.version, rt.plural): rt for rt in TYPES}
_BY_NAME: dict[str, ResourceType] = {}
for _rt in TYPES:
    for _alias in (_rt.kind, _rt.plural, _rt.kind_qualified, _rt.qualified, *_rt.short_names):
        _BY_NAME[_alias.lower()] = _rt
    _BY_NAME[_rt.plural[:-1]] = _rt  # singular


def resource_type(kind: str | ResourceType) -> ResourceType:
    if isinstance(kind, ResourceType):
        return kind
    try:
        return _BY_NAME[kind.lower()]
    except KeyError:
        known = ", ".join(rt.kind for rt in TYPES)
        raise KeyError(f"unknown kind {kind!r}; the emulator serves {known}") from None
