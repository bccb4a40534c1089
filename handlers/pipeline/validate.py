"""/hotfix validate (see services.pipeline.validate)."""

from __future__ import annotations

from handlers.core.commands import CommandList

COMMANDS = CommandList()
