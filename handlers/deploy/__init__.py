"""Deployments: the `deploy` group (request, list, status, the card's typed twins), the
top-level approve / reject / cancel / rollback, and the card's buttons."""

from __future__ import annotations

from handlers.core.registry import Registry
from handlers.deploy import buttons, canary_buttons, commands, status, twins


def register(registry: Registry) -> None:
    for subcommand in (*status.COMMANDS, *twins.COMMANDS):
        commands.DEPLOY.add_command(subcommand)
    registry.root.add_command(commands.DEPLOY)
    for command in commands.COMMANDS:
        registry.root.add_command(command)
    registry.buttons.add(*buttons.BUTTONS, *canary_buttons.BUTTONS)
