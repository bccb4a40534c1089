"""Git hotfixes: `/hotfix create`, `finish`, `status`."""

from __future__ import annotations

from handlers.core.registry import Registry
from handlers.hotfix import commands


def register(registry: Registry) -> None:
    for command in commands.COMMANDS:
        registry.root.add_command(command)
