"""Find or make the bot's clone of a repository."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import RepositoryStateError
from .settings import RepositorySettings
from .validation import slugify
from .working_copy import GitRepository, Identity


def prepare_clone(*, settings: RepositorySettings, data_dir: Path | str) -> Path:
    """The path of the clone the operations should use.

    A ``repository`` that is the top of a non-bare work tree is used in place:
    it may be someone's working copy, so the bot never deletes files in it.
    Anything else (URL, scp-like address, bare repository path) is cloned
    once into ``<data_dir>/repos/<name>-<hash>`` with the configured remote
    name, and that clone is reused afterwards. Only such a clone is marked
    as the bot's own: after a crash it is reset and cleaned (``clean -ffdx``).
    """
    candidate = Path(settings.repository).expanduser()
    if candidate.is_dir():
        top = GitRepository.toplevel(candidate)
        if top is not None:
            _check_clone(top, settings)
            return top

    source = settings.repository
    base = source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    target = Path(data_dir) / "repos" / f"{slugify(base, 30) or 'repo'}-{digest}"
    if target.exists():
        if GitRepository.toplevel(target) is None:
            raise RepositoryStateError(
                f"{target} exists but is not a clone",
                hint="remove it so the bot can clone the repository again",
            )
        _check_clone(target, settings, own=True)  # clones made before the mark get it here
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    GitRepository.clone(source, target, remote=settings.remote)
    _check_clone(target, settings, own=True)
    return target


def _check_clone(path: Path, settings: RepositorySettings, *, own: bool = False) -> None:
    """The clone has the configured remote; ``own``: mark it as the bot's own clone."""
    repo = GitRepository.open(path, identity=Identity(settings.author_name, settings.author_email))
    try:
        url = repo.remote_url(settings.remote)
        if own:
            # The bot's clone under its data directory: a crash's leftovers in it are
            # the bot's own, so recovery may delete them (see session.open_session).
            repo.mark_managed()
    finally:
        repo.close()
    if url is None:
        raise RepositoryStateError(
            f"the clone at {path} has no remote named {settings.remote}",
            hint=f"add it (git remote add {settings.remote} <url>) or fix the remote setting",
        )
