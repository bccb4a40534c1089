"""What a webhook delivery reports, read from GitHub's and GitLab's payloads into a `CiRun`.

Only the fields the bot keeps are read, each checked and bounded: a payload comes from the
internet, signed or not, and a branch name or a workflow name can be anything git or the CI
accepts (10 KB, newlines, right-to-left marks, Slack mentions). What is kept is clipped here;
what is shown is escaped by the templates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.ci.model import CiRun, Provider
from services.errors import UserFacingError

GITHUB_EVENTS = frozenset({"workflow_run", "check_suite"})
GITLAB_PIPELINE = "Pipeline Hook"
MAX_NAME = 200
MAX_REF = 255
MAX_URL = 500
_SHA = re.compile(r"[0-9a-f]{7,64}")
_GITLAB_TIME = "%Y-%m-%d %H:%M:%S %Z"


class MalformedPayloadError(UserFacingError):
    """The payload is not what this event's documentation describes (answered 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="Send the event as the CI documents it, as JSON.")


def github_run(event: str, payload: Mapping[str, Any]) -> CiRun | None:
    """The run a GitHub delivery reports; None for events and actions the bot does not read."""
    if event == "workflow_run":
        return _workflow_run(payload)
    if event == "check_suite":
        return _check_suite(payload)
    return None


def _workflow_run(payload: Mapping[str, Any]) -> CiRun:
    run = _object(payload, "workflow_run")
    repository = _text(_object(payload, "repository"), "full_name", MAX_REF)
    return CiRun(
        provider=Provider.GITHUB,
        repository=repository,
        run_id=f"workflow_run:{_integer(run, 'id')}",
        attempt=_integer(run, "run_attempt", default=1),
        # `name` is the workflow's name (it can be empty); `display_title` the commit's.
        name=_label(_text(run, "name", MAX_NAME, default="")) or _workflow_name(payload),
        head_sha=_sha(run, "head_sha"),
        head_branch=_optional_text(run, "head_branch", MAX_REF),
        tag=None,
        status=_text(run, "status", 40),
        conclusion=_optional_text(run, "conclusion", 40),
        url=_url(run, "html_url"),
        updated_at=_iso(run, "updated_at"),
        foreign=_foreign_head(run, repository),
    )


def _foreign_head(run: Mapping[str, Any], repository: str) -> str | None:
    """Why a workflow run is a fork's (its head repository is not the repository), or None.

    A fork's pull request runs in the repository's Actions with the fork's branch name and
    commit: trusted, it would show on the real branch's message and fail the gate."""
    head = run.get("head_repository")
    name = head.get("full_name") if isinstance(head, Mapping) else None
    if not isinstance(name, str):
        return "it names no head repository"
    if name.lower() != repository.lower():
        return f"its head repository is {_label(name[:MAX_REF])!r}, a fork"
    return None


def _workflow_name(payload: Mapping[str, Any]) -> str:
    workflow = payload.get("workflow")
    if isinstance(workflow, Mapping):
        return _label(_text(workflow, "name", MAX_NAME, default="")) or "workflow"
    return "workflow"


def _check_suite(payload: Mapping[str, Any]) -> CiRun:
    suite = _object(payload, "check_suite")
    repo = _object(payload, "repository")
    sha = _sha(suite, "head_sha")
    app = suite.get("app")
    name = _label(_text(app, "name", MAX_NAME, default="")) if isinstance(app, Mapping) else ""
    html = _url(repo, "html_url")
    return CiRun(
        provider=Provider.GITHUB,
        repository=_text(repo, "full_name", MAX_REF),
        run_id=f"check_suite:{_integer(suite, 'id')}",
        attempt=1,
        name=name or "checks",
        head_sha=sha,
        head_branch=_optional_text(suite, "head_branch", MAX_REF),
        tag=None,
        status=_text(suite, "status", 40, default="queued") or "queued",
        conclusion=_optional_text(suite, "conclusion", 40),
        # A check suite has no page of its own: the commit's checks are where people look.
        url=f"{html}/commit/{sha}/checks" if html else None,
        updated_at=_iso(suite, "updated_at"),
        # A check suite names no head repository: GitHub sends a fork's with no head_branch
        # and no pull request ("pushes to a branch in a forked repository are not detected").
        foreign=None
        if isinstance(suite.get("head_branch"), str)
        else "it names no branch of the repository (a fork's commit)",
    )


def gitlab_run(event: str | None, payload: Mapping[str, Any]) -> CiRun | None:
    """The pipeline a GitLab "Pipeline Hook" reports; None for other events."""
    if event != GITLAB_PIPELINE or payload.get("object_kind") != "pipeline":
        return None
    attrs = _object(payload, "object_attributes")
    project = _object(payload, "project")
    ref = _optional_text(attrs, "ref", MAX_REF)
    is_tag = attrs.get("tag") is True
    status = _text(attrs, "status", 40)
    finished = _optional_text(attrs, "finished_at", 40)
    # A pipeline hook carries no update time: the finish (or the creation, while it runs)
    # orders the deliveries, and the status' rank orders those of one moment.
    moment = _gitlab_time(finished) if finished else _gitlab_time(_text(attrs, "created_at", 40))
    return CiRun(
        provider=Provider.GITLAB,
        repository=_text(project, "path_with_namespace", MAX_REF),
        run_id=f"pipeline:{_integer(attrs, 'id')}",
        attempt=1,
        name=_label(_optional_text(attrs, "name", MAX_NAME) or "") or "pipeline",
        head_sha=_sha(attrs, "sha"),
        head_branch=None if is_tag else ref,
        tag=ref if is_tag else None,
        status=status,
        conclusion=None,
        url=_url(attrs, "url"),
        updated_at=moment,
        foreign=_foreign_source(payload, project),
    )


def _foreign_source(payload: Mapping[str, Any], project: Mapping[str, Any]) -> str | None:
    """Why a pipeline runs a fork's code, or None: a merge request pipeline run in this
    project ("run pipelines in the parent project") for a merge request from a fork."""
    request = payload.get("merge_request")
    if not isinstance(request, Mapping):
        return None
    source = request.get("source_project_id")
    if source is None or source == project.get("id"):
        return None
    shown = source if isinstance(source, int) else "?"
    return f"its merge request comes from another project (id {shown}), a fork"


# -- checked reads -----------------------------------------------------------


def _label(text: str) -> str:
    """A name shown on one line: no newlines, no invisible or direction-changing characters
    (a right-to-left override would make "deliaf" read as "failed")."""
    kept = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in text
        if unicodedata.category(c) != "Cf"
    )
    return " ".join(kept.split())


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise MalformedPayloadError(f"{key!r} is missing or not an object")
    return value


def _text(data: Mapping[str, Any], key: str, limit: int, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if value is None and default is not None:
        value = default
    if not isinstance(value, str):
        raise MalformedPayloadError(f"{key!r} is missing or not a string")
    return value[:limit]


def _optional_text(data: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayloadError(f"{key!r} is not a string")
    return value[:limit]


def _integer(data: Mapping[str, Any], key: str, *, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise MalformedPayloadError(f"{key!r} is missing or not a number")
    return value


def _sha(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise MalformedPayloadError(f"{key!r} is not a commit sha")
    return value


def _url(data: Mapping[str, Any], key: str) -> str | None:
    """A link is shown only when it is a plain http(s) address of sane length."""
    value = data.get(key)
    if (
        isinstance(value, str)
        and value.startswith(("https://", "http://"))
        and len(value) <= MAX_URL
        and not any(c in value for c in "<>| \n\r\t")
    ):
        return value
    return None


def _iso(data: Mapping[str, Any], key: str) -> datetime:
    text = _text(data, key, 40)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayloadError(f"{key!r} is not a time") from None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def _gitlab_time(text: str) -> datetime:
    """GitLab's "2016-08-12 15:23:28 UTC" (or ISO 8601 on newer versions)."""
    try:
        return datetime.strptime(text, _GITLAB_TIME).replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayloadError(f"{text[:40]!r} is not a time") from None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
