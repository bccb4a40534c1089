"""How the integrations render their words: the bot's templates, overridable by the team."""

from __future__ import annotations

from typing import Any, Protocol


class TextTemplates(Protocol):
    def render_file(self, name: str, data: dict[str, Any]) -> str:
        """Render `templates/<name>` (plain text; HTML-escaped when `name` ends in .html.j2)."""
        ...
