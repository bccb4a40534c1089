"""War-room messages that show a CI status, edited as runs arrive.

A hotfix message (branch cut, hotfix finished) is recorded here with the template and data
it was posted with and what it watches: the hotfix branch, or the release tag and its
commit. When a run for one of those is stored, each watching message is rendered again
with the CI status added and edited in place (the same channel and ts); a message posted
while Slack was away keeps its outbox placeholder ts, which the outbox replaces on delivery.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.chat import Chat, ChatError, Message, Posted
from services.ci import runs
from services.ci.model import CiRun
from services.clock import Clock, isoformat
from services.store import Store

log = logging.getLogger(__name__)
MAX_SHOWN = 5  # runs listed on a message; more are counted, not listed


@dataclass(frozen=True)
class Subject:
    """What a message shows the CI of: a branch, or a release tag and its commit."""

    branch: str | None = None
    tag: str | None = None
    sha: str | None = None


@dataclass(frozen=True)
class Watch:
    id: int
    service: str
    channel_id: str
    ts: str
    template: str
    data: dict[str, Any]
    subject: Subject


def jsonable(value: Any) -> Any:
    """A message's data as JSON can keep it (the results are frozen dataclasses)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def status(store: Store, *, service: str, subject: Subject) -> dict[str, Any]:
    """What the message shows: the verdict and the latest run of each workflow."""
    tag, branch, sha = subject.tag, subject.branch, subject.sha
    if tag is not None:
        found = runs.for_tag(store, service=service, tag=tag, sha=sha)
    elif branch is not None:
        found = runs.for_branch(store, service=service, branch=branch)
    else:
        found = runs.for_commit(store, service=service, sha=sha or "")
    verdict = runs.verdict(found)
    return {
        "outcome": verdict.value if verdict else None,
        "runs": [r.as_data() for r in found[:MAX_SHOWN]],
        "more": max(0, len(found) - MAX_SHOWN),
        "watching": f"tag {tag}" if tag else f"branch {branch}" if branch else f"commit {sha}",
    }


def post_watched(
    store: Store,
    *,
    clock: Clock,
    chat: Chat,
    service: str,
    channel_id: str,
    message: Message,
    subject: Subject,
) -> Posted:
    """Post `message` with its CI status, and keep it up to date from now on.

    A run kept between the post and the record would be missed until the next one: the
    status is read again once recorded and the message edited if it changed meanwhile.
    """
    shown = status(store, service=service, subject=subject)
    posted = chat.post(channel_id, Message(message.template, {**message.data, "ci": shown}))
    add(
        store,
        clock=clock,
        service=service,
        channel_id=posted.channel_id,
        ts=posted.ts,
        message=message,
        subject=subject,
    )
    now = status(store, service=service, subject=subject)
    if now != shown:
        chat.update(
            posted.channel_id, posted.ts, Message(message.template, {**message.data, "ci": now})
        )
    return posted


def add(
    store: Store,
    *,
    clock: Clock,
    service: str,
    channel_id: str,
    ts: str,
    message: Message,
    subject: Subject,
) -> None:
    store.conn.execute(
        "INSERT INTO ci_watches (service, channel_id, ts, template, data, branch, tag, sha,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            service,
            channel_id,
            ts,
            message.template,
            json.dumps(jsonable(dict(message.data))),
            subject.branch,
            subject.tag,
            subject.sha,
            isoformat(clock.now()),
        ),
    )


def watching(store: Store, *, service: str, run: CiRun) -> list[Watch]:
    """The messages that show this run: its branch, its tag, or its commit."""
    # A tag push's run names the tag as its branch on GitHub; GitLab flags it as a tag.
    names = (run.head_branch or "", run.tag or "")
    rows = store.query(
        "SELECT * FROM ci_watches WHERE service = ?"
        " AND (sha = ? OR branch IN (?, ?) OR tag IN (?, ?)) ORDER BY id",
        (service, run.head_sha, *names, *names),
    )
    return [
        Watch(
            id=r["id"],
            service=r["service"],
            channel_id=r["channel_id"],
            ts=r["ts"],
            template=r["template"],
            data=json.loads(r["data"]),
            subject=Subject(branch=r["branch"], tag=r["tag"], sha=r["sha"]),
        )
        for r in rows
    ]


def refresh(store: Store, *, chat: Chat, service: str, run: CiRun) -> list[str]:
    """Edit every message that shows this run's branch, tag or commit; the problems met."""
    problems: list[str] = []
    for watch in watching(store, service=service, run=run):
        ci = status(store, service=service, subject=watch.subject)
        try:
            chat.update(
                watch.channel_id, watch.ts, Message(watch.template, {**watch.data, "ci": ci})
            )
        except ChatError as exc:
            log.warning(
                "could not show CI status on %s/%s: %s", watch.channel_id, watch.ts, exc.error
            )
            problems.append(exc.error)
    return problems
