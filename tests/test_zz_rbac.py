"""deploy/rbac.yaml allows every Kubernetes call the bot made in this test run, and nothing else.

Named to run last: it reads every request the Kubernetes emulators received from
hotfix-bot's client (its User-Agent) during the whole session.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from services.deploy.kube_client import USER_AGENT
from tests.harness.k8s_emulator import SESSION_REQUESTS

RBAC = Path(__file__).resolve().parent.parent / "deploy" / "rbac.yaml"
CORE = re.compile(
    r"^/api/v1/namespaces/[^/]+/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
GROUPED = re.compile(
    r"^/apis/(?P<group>[^/]+)/[^/]+/namespaces/[^/]+/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def permission(method: str, path: str) -> tuple[str, str, str]:
    """(apiGroup, resource[/subresource], verb) that a request needs, as RBAC sees it."""
    match = CORE.match(path) or GROUPED.match(path)
    assert match, f"not a namespaced API path: {path}"
    group = match.groupdict().get("group") or ""
    resource = match["resource"] + (f"/{match['sub']}" if match["sub"] else "")
    verb = ("get" if match["name"] else "list") if method == "GET" else VERBS[method]
    return group, resource, verb


def granted() -> set[tuple[str, str, str]]:
    documents = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    roles = [d for d in documents if d["kind"] == "Role"]
    assert roles and not [
        d for d in documents if d["kind"] in ("ClusterRole", "ClusterRoleBinding")
    ]
    rules = set()
    for rule in roles[0]["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    rules.add((group, resource, verb))
    return rules


def test_the_role_allows_exactly_what_the_bot_uses() -> None:
    used = {
        permission(r.method, r.path)
        for r in SESSION_REQUESTS
        if (r.user_agent or "").startswith(USER_AGENT)
    }
    if not used:
        pytest.skip("no Kubernetes requests from the bot in this run (run the whole suite)")
    assert used - granted() == set(), "calls the Role does not allow"
    assert granted() - used == set(), "the Role grants what the bot never uses"


def test_the_role_is_bound_to_the_bots_service_account() -> None:
    documents = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    (binding,) = [d for d in documents if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hotfix-bot", "namespace": "hotfix-bot"}
    ]
    assert binding["roleRef"]["kind"] == "Role"
