"""The bot's Kubernetes Roles, and what RBAC would say to each request the bot makes.

Two Roles: deploy/rbac.yaml's deployer Role, applied in each namespace the bot deploys to,
and deploy/lease-rbac.yaml's Role in the bot's own namespace for its single-instance Lease.
A request is checked against the Role of its namespace, resourceNames included. The `k8s`
fixture checks every request of every test (tests/harness/k8s_fixtures.py);
tests/test_rbac.py checks that the Roles grant nothing the bot does not use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from services.kube.client import USER_AGENT
from tests.harness.k8s_emulator import RecordedRequest

DEPLOY = Path(__file__).resolve().parent.parent.parent / "deploy"
RBAC = DEPLOY / "rbac.yaml"  # the deployer Role, one copy per target namespace
LEASE_RBAC = DEPLOY / "lease-rbac.yaml"  # the bot's own namespace
BOT_NAMESPACE = "hotfix-bot"
ANY_NAME = "*"

CORE = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
GROUPED = re.compile(
    r"^/apis/(?P<group>[^/]+)/[^/]+/namespaces/(?P<ns>[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

Grant = tuple[str, str, str, str]  # apiGroup, resource, verb, resource name or ANY_NAME


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


def bots_needs(requests: Iterable[RecordedRequest]) -> set[Need]:
    """What the bot's own client (its User-Agent) asked for; the tests' own calls left out."""
    return {
        permission(r.method, r.path)
        for r in requests
        if (r.user_agent or "").startswith(USER_AGENT)
    }


def documents(path: Path) -> list[dict[str, Any]]:
    found = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert not [d for d in found if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    return found


def role(path: Path) -> dict[str, Any]:
    (only,) = [d for d in documents(path) if d["kind"] == "Role"]
    return only


def grants(of: dict[str, Any]) -> set[Grant]:
    rules = set()
    for rule in of["rules"]:
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


def refused(requests: Iterable[RecordedRequest]) -> list[str]:
    """The bot's requests that its Role would refuse (each namespace's Role: the Lease Role in
    the bot's own namespace, the deployer Role anywhere else)."""
    lease, deployer = grants(role(LEASE_RBAC)), grants(role(RBAC))
    return sorted(
        f"{n.verb} {n.group or 'core'}/{n.resource}"
        + (f"/{n.name}" if n.name else "")
        + f" in {n.namespace}"
        for n in bots_needs(requests)
        if not allows(lease if n.namespace == BOT_NAMESPACE else deployer, n)
    )
