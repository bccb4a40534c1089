"""The bot's Roles allow every Kubernetes call it made in this test run, and nothing else.

Two Roles: deploy/rbac.yaml's deployer Role, applied in each namespace the bot deploys to,
and deploy/lease-rbac.yaml's Role in the bot's own namespace for its single-instance Lease.
Each request is checked against the Role of its namespace, resourceNames included.

Named to run last: it reads every request the Kubernetes emulators received from
hotfix-bot's client (its User-Agent) during the whole session.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from services.kube.client import USER_AGENT
from tests.harness.k8s_emulator import SESSION_REQUESTS

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RBAC = DEPLOY / "rbac.yaml"  # the deployer Role, one copy per target namespace
LEASE_RBAC = DEPLOY / "lease-rbac.yaml"  # the bot's own namespace
BOT_NAMESPACE = "hotfix-bot"
SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": "hotfix-bot", "namespace": BOT_NAMESPACE}

CORE = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
GROUPED = re.compile(
    r"^/apis/(?P<group>[^/]+)/[^/]+/namespaces/(?P<ns>[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
ANY_NAME = "*"


class Need(NamedTuple):
    """What RBAC sees of a request: its namespace and (apiGroup, resource, verb, name)."""

    namespace: str
    group: str
    resource: str
    verb: str
    name: str | None  # None: a list or create, which carries no name to authorize


def permission(method: str, path: str) -> Need:
    match = CORE.match(path) or GROUPED.match(path)
    assert match, f"not a namespaced API path: {path}"
    group = match.groupdict().get("group") or ""
    resource = match["resource"] + (f"/{match['sub']}" if match["sub"] else "")
    verb = ("get" if match["name"] else "list") if method == "GET" else VERBS[method]
    return Need(match["ns"], group, resource, verb, match["name"])


def _documents(path: Path) -> list[dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert not [d for d in documents if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    return documents


def _role(path: Path) -> dict[str, Any]:
    (role,) = [d for d in _documents(path) if d["kind"] == "Role"]
    return role


Grant = tuple[str, str, str, str]  # apiGroup, resource, verb, resource name or ANY_NAME


def grants(role: dict[str, Any]) -> set[Grant]:
    rules = set()
    for rule in role["rules"]:
        names = rule.get("resourceNames") or [ANY_NAME]
        if names != [ANY_NAME]:
            # A create or list request has no name: a rule with resourceNames never allows it.
            assert not {"create", "list", "watch", "deletecollection"} & set(rule["verbs"]), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in names:
                        rules.add((group, resource, verb, name))
    return rules


def allows(granted: set[Grant], need: Need) -> bool:
    key = (need.group, need.resource, need.verb)
    return (*key, ANY_NAME) in granted or (need.name is not None and (*key, need.name) in granted)


def used_by(grant: Grant, needs: set[Need]) -> bool:
    return any(
        (n.group, n.resource, n.verb) == grant[:3] and grant[3] in (ANY_NAME, n.name) for n in needs
    )


def _check(role: dict[str, Any], needs: set[Need]) -> None:
    granted = grants(role)
    name = role["metadata"]["name"]
    assert {n for n in needs if not allows(granted, n)} == set(), f"calls {name} does not allow"
    assert {g for g in granted if not used_by(g, needs)} == set(), (
        f"{name} grants what the bot never uses"
    )


def _needs() -> set[Need]:
    return {
        permission(r.method, r.path)
        for r in SESSION_REQUESTS
        if (r.user_agent or "").startswith(USER_AGENT)
    }


def test_the_deployer_role_allows_exactly_what_deploys_use() -> None:
    needs = {n for n in _needs() if n.namespace != BOT_NAMESPACE}
    if not needs:
        pytest.skip("no deploy requests from the bot in this run (run the whole suite)")
    _check(_role(RBAC), needs)


def test_the_lease_role_allows_exactly_what_the_instance_lock_uses() -> None:
    needs = {n for n in _needs() if n.namespace == BOT_NAMESPACE}
    if not needs:
        pytest.skip("no Lease requests from the bot in this run (run tests/test_lease_lock.py)")
    role = _role(LEASE_RBAC)
    assert role["metadata"]["namespace"] == BOT_NAMESPACE
    _check(role, needs)


@pytest.mark.parametrize("path", [RBAC, LEASE_RBAC], ids=["deployer", "lease"])
def test_each_role_is_bound_to_the_bots_service_account(path: Path) -> None:
    documents = _documents(path)
    role = _role(path)
    (binding,) = [d for d in documents if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [SERVICE_ACCOUNT]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]


def test_the_bots_own_manifests_include_the_lease_role_not_the_deployer_role() -> None:
    resources = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    assert LEASE_RBAC.name in resources
    assert RBAC.name not in resources  # applied in each target namespace instead
