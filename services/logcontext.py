"""Ids that every log line of a flow should carry (incident, deployment).

A flow binds them once (`with bound(deployment_id="DEP-3"):`); the JSON log
formatter adds them to each record written meanwhile on that thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_IDS: ContextVar[dict[str, str]] = ContextVar("hotfix_log_ids", default={})  # noqa: B039 - never mutated


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    token = _IDS.set({**_IDS.get(), **{k: v for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _IDS.reset(token)


def current() -> dict[str, str]:
    return dict(_IDS.get())
