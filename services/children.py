"""Child processes (deploy scripts, checks, backups, git): a minimal environment, output redacted.

A child never inherits the bot's environment: it would read SLACK_BOT_TOKEN and
SLACK_SIGNING_SECRET, and a failing script that prints its environment would
post them to Slack. It gets only BASE_VARIABLES copied from the bot's
environment, plus what its caller names (the environment's ``env:`` setting,
KUBECONFIG for a Kubernetes target, git's own settings). Any value carrying a
registered secret is dropped, and whatever the child prints is redacted
(services.redaction) before anyone stores, posts or logs it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.redaction import SECRETS

# What any program needs to run as the bot's user: where programs are, the home
# directory (config files such as ~/.gitconfig, ~/.kube/config), locale, time zone,
# and where temporary files go.
BASE_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def child_environment(
    *,
    inherit: Iterable[str] = (),
    fixed: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """BASE_VARIABLES and ``inherit`` copied from the bot's environment when set, then ``fixed``.

    A value that carries one of the bot's secrets is left out, whichever way it came.
    """
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in (*BASE_VARIABLES, *inherit) if name in source}
    env.update(fixed or {})
    return {name: value for name, value in env.items() if not SECRETS.is_secret(value)}


@dataclass(frozen=True)
class Completed:
    returncode: int | None  # None: killed after the timeout
    stdout: str  # with merge_stderr, both streams in order
    stderr: str


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | str | None = None,
    timeout: float | None = None,
    merge_stderr: bool = False,
) -> Completed:
    """Run ``argv`` (no shell) with exactly ``env``; output decoded and redacted.

    Raises OSError when the program cannot be started.
    """
    try:
        completed = subprocess.run(
            list(argv),
            cwd=Path(cwd) if cwd else None,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return Completed(None, _text(exc.output), _text(exc.stderr))
    return Completed(completed.returncode, _text(completed.stdout), _text(completed.stderr))


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return SECRETS.redact(text)


def program_problem(
    program: str, *, env: Mapping[str, str], cwd: Path | str | None = None
) -> str | None:
    """Why ``run_child([program, …], env=env, cwd=cwd)`` could not start it, or None.

    Looked up as the child is started (subprocess, then execve): a name with a
    slash is a path (relative to ``cwd``, else the bot's directory); a bare name is
    searched on the PATH of ``env`` — the child's, which an environment's ``env:``
    setting may have replaced — not on the bot's own.
    """
    base = Path(cwd) if cwd else Path.cwd()
    if os.sep in program:
        path = base / program  # an absolute program stays as it is
        where = "" if Path(program).is_absolute() else f" (relative to {base})"
        kind = _kind(path)
        if kind is None:
            return f"{path} does not exist{where}"
        return _not_runnable(path, kind)
    directories = os.get_exec_path(dict(env))
    found: list[tuple[Path, str]] = []
    for directory in directories:
        candidate = base / directory / program  # an empty or relative entry is cwd-relative
        kind = _kind(candidate)
        if kind == "program":
            return None
        if kind is not None:
            found.append((candidate, kind))
    if found:
        return _not_runnable(*found[0])
    return f"{program!r} is not on PATH ({os.pathsep.join(directories)})"


def _kind(path: Path) -> str | None:
    """ "program", "file" (not executable), "directory", or None: nothing usable there."""
    try:
        if path.is_dir():
            return "directory"
        if path.is_file():
            return "program" if os.access(path, os.X_OK) else "file"
    except OSError:  # a name too long, a loop of links: execve would fail the same way
        return None
    return None


def _not_runnable(path: Path, kind: str) -> str | None:
    if kind == "directory":
        return f"{path} is a directory, not a program"
    if kind == "file":
        return f"{path} is not executable (chmod +x it)"
    return None
