"""Which tags a service's repository has, read from its remote without a clone's lock.

A deploy request checks that the version typed is a tag of the service's repository before
anyone is asked to approve it. Reading the remote's tag list (``ls-remote``) needs no clone
and no lock, so a check never waits behind a hotfix being finished in the bot's clone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from .settings import RepositorySettings
from .versions import newest_first
from .working_copy import GitRepository


@dataclass(frozen=True)
class RemoteTags:
    names: frozenset[str]
    newest: tuple[str, ...]  # version tags, highest first

    def __contains__(self, name: object) -> bool:
        return name in self.names


def remote_tags(settings: RepositorySettings) -> RemoteTags:
    """The tags of the service's remote (GitCommandError when it cannot be read)."""
    candidate = Path(settings.repository).expanduser()
    top = GitRepository.toplevel(candidate) if candidate.is_dir() else None
    if top is not None:
        # A local work tree the bot uses in place: its configured remote is the truth.
        names = GitRepository.remote_tags(settings.remote, cwd=top)
    else:
        names = GitRepository.remote_tags(settings.repository, cwd=Path(tempfile.gettempdir()))
    return RemoteTags(
        names=frozenset(names), newest=tuple(newest_first(names, settings.tag_prefix))
    )


def tag_commit(settings: RepositorySettings, tag: str) -> str | None:
    """The commit `tag` points at on the service's remote (None: no such tag); read like
    `remote_tags`, without the clone's lock. GitCommandError when it cannot be read."""
    candidate = Path(settings.repository).expanduser()
    top = GitRepository.toplevel(candidate) if candidate.is_dir() else None
    if top is not None:
        return GitRepository.remote_tag_commit(settings.remote, tag, cwd=top)
    return GitRepository.remote_tag_commit(
        settings.repository, tag, cwd=Path(tempfile.gettempdir())
    )
