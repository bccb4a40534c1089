"""The pipeline's commands: `/hotfix validate` (a suite against an environment) and
`/hotfix verify` (what runs now, checked for a while, rolled back on failure if asked)."""

from __future__ import annotations

from handlers.core.registry import Registry
from handlers.pipeline import validate, verify


def register(registry: Registry) -> None:
    for command in (*validate.COMMANDS, *verify.COMMANDS):
        registry.root.add_command(command)
