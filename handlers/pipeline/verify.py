"""/hotfix verify (see services.pipeline.verify)."""

from __future__ import annotations

from handlers.core.commands import CommandList

COMMANDS = CommandList()
