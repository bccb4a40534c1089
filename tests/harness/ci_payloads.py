"""Webhook payloads as GitHub and GitLab send them, and the headers that sign them.

GitHub's are checked against the octokit schema of every webhook event
(../shared/specs/github-webhooks/schema.json, e.g. `definitions["workflow_run$completed"]`):
a payload the schema refuses is a test bug, caught before the bot sees it. GitLab ships no
schema: its payloads follow the "Pipeline events" example of GitLab's webhook events
documentation (object_kind, object_attributes, project, commit, builds...).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = REPO_ROOT.parent / "shared" / "specs" / "github-webhooks" / "schema.json"
API = "https://api.github.com"
WEB = "https://github.com"
STAMP = "2026-03-14T09:00:00Z"


@functools.cache
def _schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA.read_text()))


def _require_schema() -> None:
    """Skip (with the reason) where ../shared/specs does not hold GitHub's schema: a payload
    no schema checked could be one GitHub never sends (as the Argo tests and the CRD)."""
    if not SCHEMA.exists():
        pytest.skip(f"GitHub's webhook schema is absent ({SCHEMA}): payloads cannot be checked")


def validate_github(payload: dict[str, Any], definition: str) -> None:
    """Raise jsonschema.ValidationError unless GitHub's schema allows `payload`."""
    _require_schema()
    schema = {"$ref": f"#/definitions/{definition}", "definitions": _schema()["definitions"]}
    jsonschema.Draft7Validator(schema).validate(payload)


def user(login: str = "octocat", *, id_: int = 583231, kind: str = "User") -> dict[str, Any]:
    base = f"{API}/users/{login}"
    return {
        "login": login,
        "id": id_,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{id_}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": kind,
        "site_admin": False,
    }


# The API links every repository object carries, with their URI templates.
_REPO_LINKS = {
    "forks": "/forks",
    "keys": "/keys{/key_id}",
    "collaborators": "/collaborators{/collaborator}",
    "teams": "/teams",
    "hooks": "/hooks",
    "issue_events": "/issues/events{/number}",
    "events": "/events",
    "assignees": "/assignees{/user}",
    "branches": "/branches{/branch}",
    "tags": "/tags",
    "blobs": "/git/blobs{/sha}",
    "git_tags": "/git/tags{/sha}",
    "git_refs": "/git/refs{/sha}",
    "trees": "/git/trees{/sha}",
    "statuses": "/statuses/{sha}",
    "languages": "/languages",
    "stargazers": "/stargazers",
    "contributors": "/contributors",
    "subscribers": "/subscribers",
    "subscription": "/subscription",
    "commits": "/commits{/sha}",
    "git_commits": "/git/commits{/sha}",
    "comments": "/comments{/number}",
    "issue_comment": "/issues/comments{/number}",
    "contents": "/contents/{+path}",
    "compare": "/compare/{base}...{head}",
    "merges": "/merges",
    "archive": "/{archive_format}{/ref}",
    "downloads": "/downloads",
    "issues": "/issues{/number}",
    "pulls": "/pulls{/number}",
    "milestones": "/milestones{/number}",
    "notifications": "/notifications{?since,all,participating}",
    "labels": "/labels{/name}",
    "releases": "/releases{/id}",
    "deployments": "/deployments",
}


def repository_lite(full_name: str) -> dict[str, Any]:
    owner, name = full_name.split("/")
    api = f"{API}/repos/{full_name}"
    return {
        "id": 300029405,
        "node_id": "MDEwOlJlcG9zaXRvcnkzMDAwMjk0MDU=",
        "name": name,
        "full_name": full_name,
        "private": True,
        "owner": user(owner, id_=41548062, kind="Organization"),
        "html_url": f"{WEB}/{full_name}",
        "description": "Payments service",
        "fork": False,
        "url": api,
        **{f"{key}_url": api + tail for key, tail in _REPO_LINKS.items()},
    }


def repository(full_name: str) -> dict[str, Any]:
    return {
        **repository_lite(full_name),
        "created_at": "2024-01-02T10:00:00Z",
        "updated_at": "2026-03-14T08:00:00Z",
        "pushed_at": "2026-03-14T08:59:00Z",
        "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "clone_url": f"{WEB}/{full_name}.git",
        "svn_url": f"{WEB}/{full_name}",
        "homepage": None,
        "size": 1024,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": "Python",
        "has_issues": True,
        "has_projects": False,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "open_issues_count": 0,
        "license": None,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": "main",
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private",
        "custom_properties": {},
    }


def head_commit(sha: str, message: str = "Fix the payment null pointer") -> dict[str, Any]:
    person = {"name": "Alice Oncall", "email": "alice@example.com"}
    return {
        "id": sha,
        "tree_id": "c30f6c3377009c4c91c85d1f15deb6f2b7c2eb37",
        "message": message,
        "timestamp": "2026-03-14T08:59:00Z",
        "author": person,
        "committer": person,
    }


def workflow(full_name: str, name: str = "CI") -> dict[str, Any]:
    return {
        "id": 2823525,
        "node_id": "MDg6V29ya2Zsb3cyODIzNTI1",
        "name": name,
        "path": ".github/workflows/ci.yml",
        "state": "active",
        "created_at": "2024-01-02T10:00:00.000Z",
        "updated_at": "2024-01-02T10:00:00.000Z",
        "url": f"{API}/repos/{full_name}/actions/workflows/2823525",
        "html_url": f"{WEB}/{full_name}/blob/main/.github/workflows/ci.yml",
        "badge_url": f"{WEB}/{full_name}/workflows/CI/badge.svg",
    }


def workflow_run(
    action: str,
    *,
    repo: str = "acme/payments",
    head_repo: str | None = None,
    run_id: int = 8812345678,
    attempt: int = 1,
    name: str = "CI",
    head_sha: str,
    head_branch: str | None,
    conclusion: str | None = None,
    updated_at: str = STAMP,
) -> dict[str, Any]:
    """A `workflow_run` delivery; `action` is requested, in_progress or completed.

    `head_repo`: the repository the commit comes from, a fork's for a fork's pull request."""
    status = {"requested": "queued", "in_progress": "in_progress", "completed": "completed"}
    api = f"{API}/repos/{repo}/actions/runs/{run_id}"
    run = {
        "id": run_id,
        "name": name,
        "node_id": "WFR_kwLOEeLy3c8AAAACDLa0Xg",
        "head_branch": head_branch,
        "head_sha": head_sha,
        "path": ".github/workflows/ci.yml",
        "display_title": "Fix the payment null pointer",
        "run_number": 412,
        "event": "push",
        "status": status[action],
        "conclusion": conclusion,
        "workflow_id": 2823525,
        "check_suite_id": 21230001234,
        "check_suite_node_id": "CS_kwDOEeLy3c8AAAAE8v1b0g",
        "url": api,
        "html_url": f"{WEB}/{repo}/actions/runs/{run_id}",
        "pull_requests": [],
        "created_at": "2026-03-14T08:59:10Z",
        "updated_at": updated_at,
        "actor": user(),
        "run_attempt": attempt,
        "referenced_workflows": [],
        "run_started_at": "2026-03-14T08:59:10Z",
        "triggering_actor": user(),
        "jobs_url": f"{api}/jobs",
        "logs_url": f"{api}/logs",
        "check_suite_url": f"{API}/repos/{repo}/check-suites/21230001234",
        "artifacts_url": f"{api}/artifacts",
        "cancel_url": f"{api}/cancel",
        "rerun_url": f"{api}/rerun",
        "previous_attempt_url": f"{api}/attempts/{attempt - 1}" if attempt > 1 else None,
        "workflow_url": f"{API}/repos/{repo}/actions/workflows/2823525",
        "head_commit": head_commit(head_sha),
        "repository": repository_lite(repo),
        "head_repository": repository_lite(head_repo or repo),
    }
    if head_branch is None:
        del run["head_branch"]  # (the schema wants a string; a test may drop it)
    payload = {
        "action": action,
        "workflow_run": run,
        "workflow": workflow(repo),
        "repository": repository(repo),
        "sender": user(),
    }
    validate_github(payload, f"workflow_run${action}")
    return payload


def check_suite(
    action: str,
    *,
    repo: str = "acme/payments",
    suite_id: int = 21230001234,
    head_sha: str,
    head_branch: str | None,
    status: str,
    conclusion: str | None = None,
    updated_at: str = STAMP,
) -> dict[str, Any]:
    """A `check_suite` delivery (action completed, requested or rerequested)."""
    app_owner = user("github", id_=9919, kind="Organization")
    suite = {
        "id": suite_id,
        "node_id": "CS_kwDOEeLy3c8AAAAE8v1b0g",
        "head_branch": head_branch,
        "head_sha": head_sha,
        "status": status,
        "conclusion": conclusion,
        "url": f"{API}/repos/{repo}/check-suites/{suite_id}",
        "before": "0000000000000000000000000000000000000000",
        "after": head_sha,
        "pull_requests": [],
        "app": {
            "id": 15368,
            "node_id": "MDM6QXBwMTUzNjg=",
            "owner": app_owner,
            "name": "GitHub Actions",
            "description": "Automate your workflow from idea to production",
            "external_url": "https://help.github.com/en/actions",
            "html_url": f"{WEB}/apps/github-actions",
            "created_at": "2018-07-30T09:30:17Z",
            "updated_at": "2019-12-10T19:04:12Z",
        },
        "created_at": "2026-03-14T08:59:10Z",
        "updated_at": updated_at,
        "latest_check_runs_count": 3,
        "check_runs_url": f"{API}/repos/{repo}/check-suites/{suite_id}/check-runs",
        "head_commit": head_commit(head_sha),
    }
    payload = {
        "action": action,
        "check_suite": suite,
        "repository": repository(repo),
        "sender": user(),
    }
    validate_github(payload, f"check_suite${action}")
    return payload


def ping(repo: str = "acme/payments") -> dict[str, Any]:
    hook_api = f"{API}/repos/{repo}/hooks/30"
    payload = {
        "zen": "Design for failure.",
        "hook_id": 30,
        "hook": {
            "type": "Repository",
            "id": 30,
            "name": "web",
            "active": True,
            "events": ["check_suite", "workflow_run"],
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": "https://hotfix-bot.example.com/webhooks/github",
            },
            "updated_at": STAMP,
            "created_at": STAMP,
            "url": hook_api,
            "test_url": f"{hook_api}/test",
            "ping_url": f"{hook_api}/pings",
            "deliveries_url": f"{hook_api}/deliveries",
        },
        "repository": repository(repo),
        "sender": user(),
    }
    validate_github(payload, "ping$event")
    return payload


def gitlab_pipeline(
    *,
    project: str = "acme/payments",
    pipeline_id: int = 31,
    ref: str,
    tag: bool = False,
    sha: str,
    status: str,
    name: str | None = None,
    created_at: str = "2026-03-14 08:59:10 UTC",
    finished_at: str | None = None,
    merge_request_from: int | None = None,
) -> dict[str, Any]:
    """A "Pipeline Hook" as GitLab's webhook events documentation shows it.

    `merge_request_from`: a merge request pipeline, of a merge request from that project id
    (the project's own id is 1; another is a fork's)."""
    group, _, path = project.rpartition("/")
    web = f"https://gitlab.example.com/{project}"
    author = {"name": "Alice Oncall", "email": "alice@example.com"}
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": pipeline_id,
            "iid": 3,
            "name": name,
            "ref": ref,
            "tag": tag,
            "sha": sha,
            "before_sha": "0000000000000000000000000000000000000000",
            "source": "push" if merge_request_from is None else "merge_request_event",
            "status": status,
            "detailed_status": {"success": "passed", "failed": "failed"}.get(status, status),
            "stages": ["build", "test", "deploy"],
            "created_at": created_at,
            "finished_at": finished_at,
            "duration": 63 if finished_at else None,
            "queued_duration": 2,
            "variables": [],
            "url": f"{web}/-/pipelines/{pipeline_id}",
        },
        "merge_request": None
        if merge_request_from is None
        else {
            "id": 99,
            "iid": 7,
            "title": "Fix the payment null pointer",
            "source_branch": ref,
            "source_project_id": merge_request_from,
            "target_branch": "main",
            "target_project_id": 1,
            "state": "opened",
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable",
            "url": f"{web}/-/merge_requests/7",
        },
        "user": {
            "id": 1,
            "name": "Alice Oncall",
            "username": "alice",
            "avatar_url": "https://www.gravatar.com/avatar/1?s=80&d=identicon",
            "email": "alice@example.com",
        },
        "project": {
            "id": 1,
            "name": path,
            "description": "Payments service",
            "web_url": web,
            "avatar_url": None,
            "git_ssh_url": f"git@gitlab.example.com:{project}.git",
            "git_http_url": f"{web}.git",
            "namespace": group,
            "visibility_level": 0,
            "path_with_namespace": project,
            "default_branch": "main",
        },
        "commit": {
            "id": sha,
            "message": "Fix the payment null pointer\n",
            "title": "Fix the payment null pointer",
            "timestamp": "2026-03-14T08:59:00+00:00",
            "url": f"{web}/-/commit/{sha}",
            "author": author,
        },
        "source_pipeline": None,
        "builds": [],
    }


def github_headers(secret: str | None, body: bytes, event: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/a1b2c3d",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Hook-ID": "30",
    }
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return headers


def gitlab_headers(token: str | None, event: str = "Pipeline Hook") -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.6.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
    }
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return headers


class Delivered:
    """A webhook's answer: the status and the JSON body."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.json: dict[str, Any] = json.loads(body) if body else {}


def post(url: str, body: bytes, headers: dict[str, str]) -> Delivered:
    """POST a delivery as the CI does, over real HTTP; 4xx/5xx answers are returned."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Delivered(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Delivered(error.code, error.read())


class CiSender:
    """GitHub and GitLab pointed at a bot: signed deliveries to its /webhooks/… paths."""

    def __init__(self, base_url: str, *, github_secret: str, gitlab_token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.github_secret = github_secret
        self.gitlab_token = gitlab_token

    def github(
        self, event: str, payload: dict[str, Any], *, secret: str | None = "configured"
    ) -> Delivered:
        body = json.dumps(payload).encode()
        key = self.github_secret if secret == "configured" else secret
        return post(f"{self.base_url}/webhooks/github", body, github_headers(key, body, event))

    def gitlab(
        self,
        payload: dict[str, Any],
        *,
        token: str | None = "configured",
        event: str = "Pipeline Hook",
    ) -> Delivered:
        body = json.dumps(payload).encode()
        value = self.gitlab_token if token == "configured" else token
        return post(f"{self.base_url}/webhooks/gitlab", body, gitlab_headers(value, event))
