"""The bot's Roles allow every Kubernetes call it makes, and nothing else.

Every request the bot's client makes in any test is checked against its Role by the `k8s`
fixture (tests/harness/k8s_fixtures.py). This module makes each kind of call once on its
own - a rolling deploy, a rollback, a stuck rollout, a blue-green switch, a canary walk, and
the single-instance Lease taken, renewed and released - and checks that the Roles allow
those calls and grant nothing beyond them. A backend that needs new permissions adds them
to the Role and its calls to `calls_the_bot_makes` below.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.instance_lock import LeaseInstanceLock
from services.clock import ManualClock
from services.deploy.backend import Backend, BuildOrder, Controls, DeployContext
from services.deploy.registry import backend_type
from services.errors import DeployError
from services.settings import Settings
from tests.harness.k8s.custom import rollout_schema
from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.rbac import (
    BOT_NAMESPACE,
    DEPLOY,
    LEASE_RBAC,
    RBAC,
    Need,
    allows,
    bots_needs,
    documents,
    grants,
    role,
    used_by,
)

pytestmark = pytest.mark.unit

# The Rollout CRD comes from ../shared/specs (present in CI); without it no Rollout is served.
ARGO_SERVED = rollout_schema() is not None

NS = "payments"  # deploy/rbac.yaml's example namespace
REPO = "registry.example.com/payments"
SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": "hotfix-bot", "namespace": BOT_NAMESPACE}
STABLE = {"host": "checkout.payments.svc.cluster.local", "subset": "stable"}
CANARY = {"host": "checkout.payments.svc.cluster.local", "subset": "canary"}


def _seed(k8s: K8sEmulator) -> None:
    """payments (rolling); payments-blue serving and payments-green idle behind the Service
    payments (blue-green); checkout and checkout-canary behind a VirtualService (canary)."""
    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0")
    for colour, replicas in (("blue", 3), ("green", 1)):
        labels = {"app": "payments", "color": colour}
        k8s.add_deployment(
            NS, f"payments-{colour}", image=f"{REPO}:v2.1.0", replicas=replicas, labels=labels
        )
    k8s.add_service(NS, "payments", {"app": "payments", "color": "blue"})
    for name, replicas, track in (("checkout", 3, "stable"), ("checkout-canary", 0, "canary")):
        labels = {"app": "checkout", "track": track}
        k8s.add_deployment(NS, name, image=f"{REPO}:v2.1.0", replicas=replicas, labels=labels)
    routes = [{"destination": STABLE, "weight": 100}, {"destination": CANARY, "weight": 0}]
    k8s.add_virtual_service(
        NS, "checkout", {"hosts": ["checkout"], "http": [{"name": "primary", "route": routes}]}
    )


def _settings(k8s: K8sEmulator, tmp_path: Path) -> Settings:
    target = {"host": k8s.url, "namespace": NS, "image": REPO, "poll_interval_seconds": 2}
    canary = {
        "virtual_service": "checkout",
        "route": "primary",
        "stable": STABLE,
        "canary": CANARY,
        "stage_seconds": 10,
    }
    environments = {
        "rolling": {"kubernetes": {**target, "deployment": "payments"}},
        "blue-green": {
            "kubernetes": {
                **target,
                "deployment": "payments",
                "blue_green": {"service": "payments", "scale_down_after_minutes": 30},
            }
        },
        "canary": {"kubernetes": {**target, "deployment": "checkout", "canary": canary}},
    }
    argo = {
        "backend": "argo_rollouts",
        "strategy": "canary",
        "argo_rollouts": {
            "host": k8s.url,
            "namespace": NS,
            "rollout": "orders",
            "image": REPO,
            "poll_interval_seconds": 1,
            "step_timeout_seconds": 30,
        },
    }
    return Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "rbac.db")},
            "lock": {"kind": "lease", "lease": {"host": k8s.url, "namespace": BOT_NAMESPACE}},
            "services": {
                "payments": {
                    "environments": {
                        **{
                            name: {"backend": "kubernetes", "strategy": name, **env}
                            for name, env in environments.items()
                        },
                        "argo": argo,
                    }
                }
            },
        }
    )


def _backend(
    settings: Settings,
    environment: str,
    clock: ManualClock,
    kind: str = "deploy",
    context: DeployContext | None = None,
) -> Backend:
    env = settings.services["payments"].environments[environment]
    order = BuildOrder(
        service="payments",
        environment=environment,
        strategy=env.strategy,
        kind=kind,
        clock=clock,
        context=context or DeployContext(service="payments"),
    )
    return backend_type(env.backend).build(env.target, order)


def _ignore(_: str) -> None:
    pass


def _never() -> bool:
    return False


@pytest.fixture(scope="module")
def calls_the_bot_makes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[Need]]:
    """Each kind of Kubernetes call the bot makes, made once through its own backends and
    instance lock against an emulator of its own."""
    with K8sEmulator() as k8s:
        _seed(k8s)
        settings = _settings(k8s, tmp_path_factory.mktemp("rbac"))
        clock = ManualClock(datetime(2026, 3, 14, 9, 0, tzinfo=UTC), on_sleep=lambda _: k8s.tick())
        go: dict[str, Any] = {"progress": _ignore, "should_abort": _never}

        rolling = _backend(settings, "rolling", clock)
        rolling.current()
        rolling.deploy("v2.1.1", **go)
        _backend(settings, "rolling", clock, kind="rollback").rollback(
            to_version=None, before={}, **go
        )
        k8s.script(NS, "payments", "stuck", deadline_ticks=3)
        with pytest.raises(DeployError, match="progress deadline"):  # says why: the pods
            rolling.deploy("v2.1.2", **go)
        _backend(settings, "blue-green", clock).deploy("v2.1.1", **go)
        _backend(settings, "canary", clock).deploy("v2.1.1", **go)

        if ARGO_SERVED:
            # An Argo Rollout: read it, set its image, and Promote from the card (the
            # plugin's promote --full, a status patch).
            k8s.add_rollout(
                NS,
                "orders",
                image=f"{REPO}:v2.1.0",
                strategy={"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
            )
            promoted = DeployContext(service="payments")
            promoted.flags = Controls(promote=True)
            _backend(settings, "argo", clock, context=promoted).deploy("v2.1.1", **go)

        lock = LeaseInstanceLock(settings.lock, clock=clock, identity="rbac-test pid 1")
        lock.acquire(on_lost=_ignore)
        assert lock.lease is not None and lock.lease.renew()
        lock.release()

        yield bots_needs(k8s.requests)


def _check(of: dict[str, Any], needs: set[Need]) -> None:
    granted = grants(of)
    if not ARGO_SERVED:  # without the CRD the emulator serves no Rollout to call
        granted = {g for g in granted if g[0] != "argoproj.io"}
    name = of["metadata"]["name"]
    assert {n for n in needs if not allows(granted, n)} == set(), f"calls {name} does not allow"
    assert {g for g in granted if not used_by(g, needs)} == set(), (
        f"{name} grants what the bot never uses (or what calls_the_bot_makes does not make)"
    )


def test_the_deployer_role_allows_exactly_what_deploys_use(
    calls_the_bot_makes: set[Need],
) -> None:
    _check(role(RBAC), {n for n in calls_the_bot_makes if n.namespace != BOT_NAMESPACE})


def test_the_lease_role_allows_exactly_what_the_instance_lock_uses(
    calls_the_bot_makes: set[Need],
) -> None:
    lease_role = role(LEASE_RBAC)
    assert lease_role["metadata"]["namespace"] == BOT_NAMESPACE
    _check(lease_role, {n for n in calls_the_bot_makes if n.namespace == BOT_NAMESPACE})


@pytest.mark.parametrize("path", [RBAC, LEASE_RBAC], ids=["deployer", "lease"])
def test_each_role_is_bound_to_the_bots_service_account(path: Path) -> None:
    found = documents(path)
    bound = role(path)
    (binding,) = [d for d in found if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [SERVICE_ACCOUNT]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": bound["metadata"]["name"],
    }
    assert binding["metadata"]["namespace"] == bound["metadata"]["namespace"]


def test_the_bots_own_manifests_include_the_lease_role_not_the_deployer_role() -> None:
    resources = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    assert LEASE_RBAC.name in resources
    assert RBAC.name not in resources  # applied in each target namespace instead
