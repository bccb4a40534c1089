"""The canary's route maths over a VirtualService (services/deploy/backends/kubernetes/canary/
route.py): finding the weighted route, planning weights, the JSON patch, drift. Pure: no
cluster, no I/O; the walk's use of it against the Kubernetes emulator is in
test_canary_kubernetes.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.deploy.backends.kubernetes.canary.route import (
    Route,
    WeightError,
    check_weights,
    find_route,
    plan_weights,
    readiness_problems,
    weight_patch,
)
from services.deploy.backends.kubernetes.settings import CanarySettings
from services.errors import DeployError

pytestmark = pytest.mark.unit

STABLE = {"host": "payments.prod.svc.cluster.local", "subset": "stable"}
CANARY = {"host": "payments.prod.svc.cluster.local", "subset": "canary"}
LEGACY = {"host": "legacy.prod.svc.cluster.local"}
LABEL = "VirtualService prod/payments"


def settings(route: str | int = "primary", **over: Any) -> CanarySettings:
    return CanarySettings.model_validate(
        {"virtual_service": "payments", "route": route, "stable": STABLE, "canary": CANARY, **over}
    )


def virtual_service(*routes: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "prod", "name": "payments"},
        "spec": {"http": list(routes)},
    }


def weighted(name: str | None, *destinations: tuple[dict[str, Any], int | None]) -> dict[str, Any]:
    route: dict[str, Any] = {
        "route": [
            {"destination": dict(d), **({"weight": w} if w is not None else {})}
            for d, w in destinations
        ]
    }
    if name is not None:
        route["name"] = name
    return route


ADMIN = weighted("admin", (LEGACY, None))
PRIMARY = weighted("primary", (STABLE, 75), (CANARY, 25))


# --------------------------------------------------------------------------- finding the route


def test_the_route_is_found_by_name_wherever_it_is() -> None:
    route = find_route(virtual_service(ADMIN, PRIMARY), settings("primary"))
    assert (route.index, route.name, route.stable, route.canary) == (1, "primary", 0, 1)
    assert route.weights == (75, 25) and route.canary_weight == 25
    assert route.split() == "stable 75 / canary 25"


def test_the_route_is_found_by_index_and_destinations_in_any_order() -> None:
    swapped = weighted(None, (CANARY, 10), (STABLE, 90))
    route = find_route(virtual_service(ADMIN, swapped), settings(1))
    assert (route.index, route.name, route.stable, route.canary) == (1, None, 1, 0)
    assert route.canary_weight == 10
    assert route.split() == "stable 90 / canary 10"


def test_a_missing_weight_counts_as_zero_and_a_boolean_is_no_weight() -> None:
    route = find_route(
        virtual_service(weighted("primary", (STABLE, 100), (CANARY, None))), settings()
    )
    assert route.weights == (100, 0)
    odd = copy.deepcopy(PRIMARY)
    odd["route"][1]["weight"] = True
    assert find_route(virtual_service(odd), settings()).canary_weight == 0


@pytest.mark.parametrize(
    ("vs", "route", "problem"),
    [
        (virtual_service(), "primary", "has no http routes to weight"),
        ({"metadata": {"namespace": "prod", "name": "payments"}}, 0, "has no http routes"),
        (virtual_service(PRIMARY), 3, "has 1 http route(s); canary.route 3 is not one"),
        (
            virtual_service(ADMIN, PRIMARY),
            "main",
            "has no http route named 'main' (it has: admin, primary)",
        ),
        (virtual_service(ADMIN), 0, "once each; it has 0 and 0"),
        (
            virtual_service(weighted("primary", (STABLE, 50), (STABLE, 50))),
            "primary",
            "once each; it has 2 and 0",
        ),
    ],
)
def test_a_route_that_cannot_carry_a_canary_is_refused_with_what_to_fix(
    vs: dict[str, Any], route: str | int, problem: str
) -> None:
    with pytest.raises(DeployError) as refused:
        find_route(vs, settings(route))
    assert problem in refused.value.message
    assert refused.value.message.startswith(f"{LABEL} ") or "of VirtualService" in (
        refused.value.message
    )
    assert refused.value.changed is False
    if "no http routes" not in problem:
        assert "kubernetes.canary" in (refused.value.hint or "")  # which setting to fix


# --------------------------------------------------------------------------- weights


def test_weights_are_planned_for_every_destination_others_get_nothing() -> None:
    three = find_route(
        virtual_service(weighted("primary", (LEGACY, 10), (STABLE, 90), (CANARY, 0))),
        settings(),
    )
    assert three.others() == (10,)
    assert three.split() == "stable 90 / canary 0 / others 10"
    assert plan_weights(three, 25) == (0, 75, 25)
    assert plan_weights(three, 0) == (0, 100, 0)
    assert plan_weights(three, 100) == (0, 0, 100)


@pytest.mark.parametrize("bad", [-1, 101, True, 12.5, "10"])
def test_a_canary_weight_outside_0_to_100_is_refused(bad: Any) -> None:
    route = find_route(virtual_service(PRIMARY), settings())
    with pytest.raises(WeightError):
        plan_weights(route, bad)


@pytest.mark.parametrize("weights", [(90, 20), (50, 49), (101, -1), (True, 99), ()])
def test_weights_that_do_not_make_100_are_never_written(weights: tuple[int, ...]) -> None:
    with pytest.raises(WeightError) as refused:
        check_weights(weights)
    assert "must make 100" in refused.value.message and refused.value.changed is False


def test_the_patch_tests_the_route_as_read_then_sets_only_its_weights() -> None:
    route = find_route(virtual_service(ADMIN, PRIMARY), settings())
    assert weight_patch(route, (50, 50)) == [
        {"op": "test", "path": "/spec/http/1/name", "value": "primary"},
        {"op": "test", "path": "/spec/http/1/route/0/destination", "value": STABLE},
        {"op": "test", "path": "/spec/http/1/route/1/destination", "value": CANARY},
        {"op": "replace", "path": "/spec/http/1/route/0/weight", "value": 50},
        {"op": "replace", "path": "/spec/http/1/route/1/weight", "value": 50},
    ]


def test_an_unnamed_route_without_weights_gets_them_added() -> None:
    route = find_route(virtual_service(weighted(None, (STABLE, None), (CANARY, None))), settings(0))
    assert weight_patch(route, (90, 10)) == [
        {"op": "test", "path": "/spec/http/0/route/0/destination", "value": STABLE},
        {"op": "test", "path": "/spec/http/0/route/1/destination", "value": CANARY},
        {"op": "add", "path": "/spec/http/0/route/0/weight", "value": 90},
        {"op": "add", "path": "/spec/http/0/route/1/weight", "value": 10},
    ]


def test_a_patch_needs_one_valid_weight_per_destination() -> None:
    route = find_route(virtual_service(PRIMARY), settings())
    with pytest.raises(WeightError, match="One weight per destination"):
        weight_patch(route, (0, 0, 100))
    with pytest.raises(WeightError, match="must make 100"):
        weight_patch(route, (90, 20))


# --------------------------------------------------------------------------- drift and readiness


def test_drift_is_any_difference_from_what_the_stage_wants() -> None:
    route = find_route(virtual_service(PRIMARY), settings())  # 75 / 25
    assert not route.drifted(25)
    assert route.drifted(10) and route.drifted(0) and route.drifted(100)
    three = Route(1, "primary", ({"weight": 5}, {"weight": 70}, {"weight": 25}), 1, 2)
    assert three.drifted(25)  # a third destination getting traffic is drift too
    with pytest.raises(WeightError):
        route.drifted(120)


def test_a_route_is_ready_for_a_canary_only_when_stable_has_all_the_traffic() -> None:
    ready = find_route(virtual_service(weighted("primary", (STABLE, 100), (CANARY, 0))), settings())
    assert readiness_problems(ready, LABEL) == []
    busy = find_route(virtual_service(PRIMARY), settings())
    (problem,) = readiness_problems(busy, LABEL)
    assert problem.startswith(f"{LABEL} already sends 25% to the canary")
    shared = find_route(
        virtual_service(weighted("primary", (STABLE, 90), (CANARY, 0), (LEGACY, 10))), settings()
    )
    (problem,) = readiness_problems(shared, LABEL)
    assert "sends traffic to other destinations too (stable 90 / canary 0 / others 10)" in problem
