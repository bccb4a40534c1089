"""How a git command runs, and how its machine-readable output is read.

An argv list, never a shell; the minimal environment of services.children plus the few
variables git needs; no prompt, no editor, messages in English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.children import child_environment, run_child

from .errors import RejectedRef

# What git may take from the bot's environment besides services.children's minimal set:
# how to reach an SSH remote (the agent socket, a custom ssh command) and which git
# config files to read. Nothing else: a hook or credential helper must never see the
# bot's Slack tokens.
_INHERITED = (
    "SSH_AUTH_SOCK",
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_NOSYSTEM",
)
# Never prompt (no terminal), never open an editor, messages in English.
_BASE_ENV: Mapping[str, str] = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_MERGE_AUTOEDIT": "no",
    "LC_ALL": "C",
    "LANGUAGE": "C",
}

_PORCELAIN_LINE = re.compile(
    r"(?P<flag>[ +\-*=!])\t(?P<from>[^:\t]*):(?P<to>[^\t]+)\t(?P<summary>.*)"
)


@dataclass(frozen=True, slots=True)
class Result:
    status: int
    stdout: str
    stderr: str


def git_env(extra: Mapping[str, str]) -> dict[str, str]:
    return child_environment(inherit=_INHERITED, fixed={**_BASE_ENV, **extra})


def execute(cmd: list[str], *, cwd: Path, env: Mapping[str, str]) -> tuple[int, str, str]:
    """Run git with exactly ``env``.

    GitPython's ``execute`` always starts from the bot's whole ``os.environ`` (it can
    add variables, never remove them), so commands run here; GitPython still opens
    and describes the repository.
    """
    done = run_child(cmd, env=env, cwd=cwd)
    assert done.returncode is not None  # no timeout given
    # As GitPython did: stderr without its final newline, stdout kept whole.
    return done.returncode, done.stdout, done.stderr.removesuffix("\n")


def rejected_refs(porcelain: str) -> list[RejectedRef]:
    """The refs ``git push --porcelain`` printed as rejected (flag ``!``), with git's reason."""
    rejected: list[RejectedRef] = []
    for line in porcelain.splitlines():
        match = _PORCELAIN_LINE.fullmatch(line)
        if match and match.group("flag") == "!":
            summary = match.group("summary")
            reason = summary
            if "(" in summary and summary.endswith(")"):
                reason = summary[summary.index("(") + 1 : -1]
            if summary.startswith("[remote rejected]"):
                reason = f"remote rejected: {reason}"
            rejected.append(RejectedRef(ref=match.group("to"), reason=reason))
    return rejected


def remote_messages(stderr: str) -> list[str]:
    """What the remote said (its hooks' ``remote:`` lines), blank lines left out."""
    return [
        line[len("remote:") :].strip()
        for line in stderr.splitlines()
        if line.startswith("remote:") and line[len("remote:") :].strip()
    ]
