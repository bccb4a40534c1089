"""Incidents: the `incident` commands, the timeline, paging, the incident buttons and
forms, and publishing to the status page."""

from __future__ import annotations

from handlers.core.registry import Registry
from handlers.incident import buttons, commands, forms, page, publish, timeline


def register(registry: Registry) -> None:
    registry.root.add_command(commands.INCIDENT)
    for command in (*timeline.COMMANDS, *page.COMMANDS):
        registry.root.add_command(command)
    registry.buttons.add(*buttons.BUTTONS, *publish.BUTTONS)
    registry.forms.add(*forms.FORMS, publish.FORM)
