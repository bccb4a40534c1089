"""The registry: every button and form the shipped templates offer has a handler, and
what a feature registers is explicit (built by handlers.features, not by importing)."""

from __future__ import annotations

import re

import pytest

from handlers.core.buttons import Button, ButtonPress, Buttons
from handlers.core.context import CommandEnv
from handlers.core.rendering import SHIPPED_TEMPLATES
from handlers.core.replies import Reply
from handlers.features import build_registry

pytestmark = pytest.mark.unit

TEMPLATE_IDS = re.compile(r"(action_id|callback_id): *\"?(hotfix_\w+)")


def _ids_in_templates(kind: str) -> set[str]:
    found: set[str] = set()
    for path in SHIPPED_TEMPLATES.rglob("*.j2"):
        found |= {name for k, name in TEMPLATE_IDS.findall(path.read_text()) if k == kind}
    return found


def test_every_button_in_the_templates_has_a_handler() -> None:
    registry = build_registry()
    offered = _ids_in_templates("action_id")
    assert offered, "the templates name no buttons: the pattern is out of date"
    assert {name for name in offered if registry.buttons.find(name) is None} == set()


def test_every_form_in_the_templates_is_answered() -> None:
    registry = build_registry()
    offered = _ids_in_templates("callback_id")
    assert offered
    assert {name for name in offered if name not in registry.forms} == set()


def test_two_registries_hold_the_same_commands_buttons_and_forms() -> None:
    first, second = build_registry(), build_registry()
    assert sorted(first.root.commands) == sorted(second.root.commands)
    assert [b.action_id for b in first.buttons] == [b.action_id for b in second.buttons]
    assert [f.callback_id for f in first.forms] == [f.callback_id for f in second.forms]


def test_a_button_registered_twice_is_refused() -> None:
    def press(env: CommandEnv, press: ButtonPress) -> Reply:
        return Reply("plain", {"text": "pressed"})

    buttons = Buttons([Button("hotfix_example", press)])
    with pytest.raises(ValueError, match="registered twice"):
        buttons.add(Button("hotfix_example", press))
