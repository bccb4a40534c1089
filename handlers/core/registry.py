"""Everything a person can reach: the command tree, the buttons and the forms.

Built in one place (handlers.features.build_registry) by calling each feature's
`register(registry)`; importing a module registers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.core.buttons import Buttons
from handlers.core.commands import ChatGroup
from handlers.core.forms import Forms


@dataclass(frozen=True)
class Registry:
    root: ChatGroup
    buttons: Buttons = field(default_factory=Buttons)
    forms: Forms = field(default_factory=Forms)
