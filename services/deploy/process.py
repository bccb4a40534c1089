"""Running deploy scripts and checks: argv lists, no shell, a timeout, output kept."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

TAIL_LINES = 15
PLACEHOLDER = re.compile(r"\{(version|service|environment|deployment_id)\}")


@dataclass(frozen=True)
class ProcessResult:
    argv: list[str]
    returncode: int | None  # None: killed after the timeout
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])

    def describe(self) -> str:
        if self.returncode is None:
            return "timed out"
        return "succeeded" if self.ok else f"exited with {self.returncode}"


def fill(argv: list[str], values: dict[str, str]) -> list[str]:
    """Substitute {version} and friends inside each argument; values were validated upstream."""
    return [PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), arg) for arg in argv]


def run(
    argv: list[str], *, timeout: float, cwd: str | None = None, env: dict[str, str] | None = None
) -> ProcessResult:
    try:
        completed = subprocess.run(
            argv,
            cwd=Path(cwd) if cwd else None,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = (
            exc.output.decode(errors="replace")
            if isinstance(exc.output, bytes)
            else (exc.output or "")
        )
        return ProcessResult(argv, None, output)
    except OSError as exc:
        return ProcessResult(argv, 127, f"cannot run {argv[0]}: {exc.strerror}")
    return ProcessResult(argv, completed.returncode, completed.stdout)
