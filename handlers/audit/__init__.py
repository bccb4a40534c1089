"""The audit log: `/hotfix audit`."""

from __future__ import annotations

from handlers.audit import commands
from handlers.core.registry import Registry


def register(registry: Registry) -> None:
    for command in commands.COMMANDS:
        registry.root.add_command(command)
