"""Running deploy scripts and checks: argv lists, no shell, a timeout, output kept.

Each runs with the minimal environment of services.children plus what the
deployment environment's ``env:`` setting lists (`environment_for`); its output
is redacted before it is returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.children import child_environment, program_problem, run_child
from services.deploy.settings import EnvironmentSettings

TAIL_LINES = 15
# How much of a command's output the timeline keeps (its end: where the error is).
OUTPUT_KEPT = 20_000
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


def start_problem(
    argv: list[str], *, values: dict[str, str], env: Mapping[str, str], cwd: Path
) -> str | None:
    """check-config: why this configured command could not start, or None.

    A program named by a placeholder ({version}...) is only known at run time: not checked.
    """
    (program,) = fill(argv[:1], values)
    if PLACEHOLDER.search(program):
        return None
    return program_problem(program, env=env, cwd=cwd)


def environment_for(settings: EnvironmentSettings) -> dict[str, str]:
    """The environment of this deployment environment's commands (deploy, status, checks...).

    Each backend section the environment has adds what its target needs (KUBECONFIG for a
    cluster, as kubectl/helm expect; else the bot's own KUBECONFIG is inherited): a
    `kubernetes:` section beside `backend: command` points the team's helm at that cluster.
    The chosen backend's section comes last, and the environment's `env.set` wins over all.
    """
    # The registry is imported here: the backends it lists build on this module.
    from services.deploy.registry import backend_type

    chosen = settings.backend
    fixed: dict[str, str] = {}
    for name in sorted(settings.backend_sections, key=lambda name: name == chosen):
        fixed.update(backend_type(name).child_environment(settings.section(name)))
    fixed.update(settings.env.set)
    return child_environment(inherit=("KUBECONFIG", *settings.env.inherit), fixed=fixed)


def run(
    argv: list[str], *, timeout: float, env: Mapping[str, str], cwd: str | None = None
) -> ProcessResult:
    try:
        completed = run_child(argv, env=env, cwd=cwd, timeout=timeout, merge_stderr=True)
    except OSError as exc:
        # Say why in check-config's words (which file, which PATH), not just errno's.
        why = program_problem(argv[0], env=env, cwd=cwd) or exc.strerror
        return ProcessResult(argv, 127, f"cannot run {argv[0]}: {why}")
    return ProcessResult(argv, completed.returncode, completed.stdout)
