"""The weighted route of an Istio VirtualService, as pure maths: which http route carries
the canary, the weights it has, the weights a stage wants, and the JSON patch that sets
them. No I/O: the adapter (`traffic`) reads and writes; this decides.

Why weight writes are JSON patches (application/json-patch+json) and not merge patches:
a merge patch (RFC 7386) replaces arrays whole, so changing one route's weights means
sending back the entire ``spec.http`` list as the bot read it - silently undoing any
concurrent edit of any route (a person, a GitOps sync). A JSON patch touches only the
weights of the one route, and its ``test`` operations (the route's name, every
destination as read) make the API server refuse the whole patch when the route was
rewritten in between: the bot re-reads and decides again instead of clobbering it.
(Custom objects take no strategic merge patch: the API server answers 415.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from services.deploy.backends.kubernetes.settings import CanaryDestination, CanarySettings
from services.errors import DeployError
from services.kube.objects import Obj

ROUTE_HINT = "Set kubernetes.canary.route to the route's name or index."


class WeightError(DeployError):
    """Weights that must never be written (out of range, not adding up to 100)."""


@dataclasses.dataclass(frozen=True)
class Route:
    """The weighted http route of the VirtualService, as read."""

    index: int  # in spec.http
    name: str | None
    entries: tuple[Obj, ...]  # spec.http[index].route
    stable: int  # index of the stable destination in `entries`
    canary: int

    def weight(self, position: int) -> int:
        value = self.entries[position].get("weight")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def weights(self) -> tuple[int, ...]:
        return tuple(self.weight(i) for i in range(len(self.entries)))

    @property
    def canary_weight(self) -> int:
        return self.weight(self.canary)

    def others(self, weights: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """The weights of destinations that are neither stable nor canary."""
        weights = weights if weights is not None else self.weights
        return tuple(w for i, w in enumerate(weights) if i not in (self.stable, self.canary))

    def split(self, weights: tuple[int, ...] | None = None) -> str:
        """The weights as people read them: "stable 75 / canary 25"."""
        weights = weights if weights is not None else self.weights
        text = f"stable {weights[self.stable]} / canary {weights[self.canary]}"
        others = self.others(weights)
        return text + (f" / others {sum(others)}" if others else "")

    def drifted(self, canary_weight: int) -> bool:
        """Whether the route differs from what a canary at `canary_weight` % should have
        (someone, or a GitOps sync, changed it behind the bot's back)."""
        return self.weights != plan_weights(self, canary_weight)


def _matches(entry: Any, want: CanaryDestination) -> bool:
    destination = (entry.get("destination") or {}) if isinstance(entry, dict) else {}
    return bool(destination.get("host") == want.host and destination.get("subset") == want.subset)


def _describe(want: CanaryDestination) -> str:
    return want.host + (f" (subset {want.subset})" if want.subset else "")


def _route_index(http: list[Any], settings: CanarySettings, label: str) -> int:
    """The configured route (by index or by name) in ``spec.http``."""
    if isinstance(settings.route, int):
        if settings.route >= len(http):
            raise DeployError(
                f"{label} has {len(http)} http route(s); canary.route {settings.route} is not one.",
                hint=ROUTE_HINT,
                changed=False,
            )
        return settings.route
    named = [
        i for i, r in enumerate(http) if isinstance(r, dict) and r.get("name") == settings.route
    ]
    if not named:
        names = ", ".join(str(r.get("name")) for r in http if isinstance(r, dict)) or "none"
        raise DeployError(
            f"{label} has no http route named {settings.route!r} (it has: {names}).",
            hint=ROUTE_HINT,
            changed=False,
        )
    return named[0]


def find_route(vs: Mapping[str, Any], settings: CanarySettings) -> Route:
    """The route to weight, with its stable and canary destinations, or a DeployError."""
    meta = vs.get("metadata") or {}
    label = f"VirtualService {meta.get('namespace')}/{meta.get('name')}"
    http = (vs.get("spec") or {}).get("http")
    if not isinstance(http, list) or not http:
        raise DeployError(f"{label} has no http routes to weight.", changed=False)
    index = _route_index(http, settings, label)
    route = http[index] if isinstance(http[index], dict) else {}
    entries = route.get("route")
    entries = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    stable = [i for i, e in enumerate(entries) if _matches(e, settings.stable)]
    canary = [i for i, e in enumerate(entries) if _matches(e, settings.canary)]
    if len(stable) != 1 or len(canary) != 1:
        raise DeployError(
            f"Route {index} of {label} must list the stable destination {_describe(settings.stable)}"
            f" and the canary destination {_describe(settings.canary)} once each; it has "
            f"{len(stable)} and {len(canary)}.",
            hint="Add both destinations to the route (the canary with weight 0), or fix"
            " kubernetes.canary.stable / canary in the config.",
            changed=False,
        )
    name = route.get("name")
    return Route(
        index, name if isinstance(name, str) else None, tuple(entries), stable[0], canary[0]
    )


def check_weights(weights: tuple[int, ...]) -> None:
    """Every weight 0-100, summing to 100: checked before anything is sent."""
    bad = [w for w in weights if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100]
    if bad or sum(weights) != 100:
        raise WeightError(
            f"Refusing to write weights {list(weights)}: each must be a whole number from 0 to"
            " 100 and together they must make 100.",
            changed=False,
        )


def plan_weights(route: Route, canary_weight: int) -> tuple[int, ...]:
    """Every destination's weight when the canary gets `canary_weight` %; others get 0."""
    if (
        isinstance(canary_weight, bool)
        or not isinstance(canary_weight, int)
        or not 0 <= canary_weight <= 100
    ):
        raise WeightError(
            f"Refusing a canary weight of {canary_weight!r}: 0 to 100.", changed=False
        )
    weights = [0] * len(route.entries)
    weights[route.stable] = 100 - canary_weight
    weights[route.canary] = canary_weight
    planned = tuple(weights)
    check_weights(planned)
    return planned


def weight_patch(route: Route, weights: tuple[int, ...]) -> list[Obj]:
    """The JSON patch: `test` the route's name and each destination as read, then set weights."""
    check_weights(weights)
    if len(weights) != len(route.entries):
        raise WeightError("One weight per destination of the route is needed.", changed=False)
    base = f"/spec/http/{route.index}"
    ops: list[Obj] = []
    if route.name is not None:
        ops.append({"op": "test", "path": f"{base}/name", "value": route.name})
    for position, entry in enumerate(route.entries):
        ops.append(
            {
                "op": "test",
                "path": f"{base}/route/{position}/destination",
                "value": entry.get("destination"),
            }
        )
    for position, (entry, weight) in enumerate(zip(route.entries, weights, strict=True)):
        ops.append(
            {
                # "replace" also asserts the member is still there; "add" sets a missing one.
                "op": "replace" if "weight" in entry else "add",
                "path": f"{base}/route/{position}/weight",
                "value": weight,
            }
        )
    return ops


def readiness_problems(route: Route, label: str) -> list[str]:
    """Why the route cannot start a canary now ([] when stable takes all the traffic)."""
    problems = []
    if any(route.others()):
        problems.append(
            f"Route {route.index} of {label} sends traffic to other"
            f" destinations too ({route.split()}): the canary needs stable and"
            " canary only."
        )
    if route.canary_weight:
        problems.append(
            f"{label} already sends {route.canary_weight}% to the canary:"
            " is another canary running? Abort it or set the weight to 0 first."
        )
    return problems
