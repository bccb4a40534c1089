"""Help: `/hotfix help` and the "Help for …" button under a usage error."""

from __future__ import annotations

from handlers.core.registry import Registry
from handlers.help.commands import help_button, help_command


def register(registry: Registry) -> None:
    help_command(registry.root)
    registry.buttons.add(help_button(registry.root))
