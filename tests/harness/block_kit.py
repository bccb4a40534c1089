"""Slack's documented Block Kit limits, checked the way Slack checks them.

Slack answers `invalid_blocks` (messages) or `invalid_arguments` (views) with one
`[ERROR] … [json-pointer:…]` line per problem. The numbers below are from Slack's
Block Kit reference (blocks, block elements, composition objects); they are the
emulator's, written from the documentation and never from what the bot sends.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)

TEXT_OBJECT_MAX = 3000  # any text object
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX_ITEMS = 10
SECTION_FIELD_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
INPUT_LABEL_MAX = 2000
INPUT_HINT_MAX = 2000
ID_MAX = 255  # block_id, action_id
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
PLACEHOLDER_MAX = 150
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTION_DESCRIPTION_MAX = 75
SELECT_OPTIONS_MAX = 100
CHECKBOX_OPTIONS_MAX = 10
TEXT_INPUT_LENGTH_MAX = 3000  # plain_text_input min_length / max_length
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30


def _too_long(errors: list[str], value: Any, cap: int, pointer: str) -> None:
    if value is not None and len(str(value)) > cap:
        errors.append(f"[ERROR] must be less than {cap + 1} characters [json-pointer:{pointer}]")


def _text(errors: list[str], obj: Any, cap: int, pointer: str, *, plain: bool = False) -> None:
    """A text object: {"type": "plain_text"|"mrkdwn", "text": …} no longer than `cap`."""
    if obj is None:
        return
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        errors.append(f"[ERROR] must be a text object [json-pointer:{pointer}]")
        return
    if plain and obj.get("type") != "plain_text":
        errors.append(f"[ERROR] must be a plain_text object [json-pointer:{pointer}]")
    _too_long(errors, obj.get("text", ""), min(cap, TEXT_OBJECT_MAX), f"{pointer}/text")


def _items(errors: list[str], items: Any, cap: int, pointer: str) -> list[Any]:
    if items is None:
        return []
    if not isinstance(items, list):
        errors.append(f"[ERROR] must be an array [json-pointer:{pointer}]")
        return []
    if len(items) > cap:
        errors.append(f"[ERROR] no more than {cap} items allowed [json-pointer:{pointer}]")
    return items


def _option(errors: list[str], option: Any, pointer: str) -> None:
    if not isinstance(option, dict):
        errors.append(f"[ERROR] must be an option object [json-pointer:{pointer}]")
        return
    _text(errors, option.get("text"), OPTION_TEXT_MAX, f"{pointer}/text")
    _too_long(errors, option.get("value"), OPTION_VALUE_MAX, f"{pointer}/value")
    _text(errors, option.get("description"), OPTION_DESCRIPTION_MAX, f"{pointer}/description")


def _confirm(errors: list[str], confirm: Any, pointer: str) -> None:
    if confirm is None:
        return
    if not isinstance(confirm, dict):
        errors.append(f"[ERROR] must be a confirmation object [json-pointer:{pointer}]")
        return
    _text(errors, confirm.get("title"), CONFIRM_TITLE_MAX, f"{pointer}/title", plain=True)
    _text(errors, confirm.get("text"), CONFIRM_TEXT_MAX, f"{pointer}/text")
    for key in ("confirm", "deny"):
        _text(errors, confirm.get(key), CONFIRM_BUTTON_MAX, f"{pointer}/{key}", plain=True)


def element_errors(element: Any, pointer: str) -> list[str]:
    """One interactive element (button, select, checkboxes, text input, …)."""
    errors: list[str] = []
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"[ERROR] missing required field: type [json-pointer:{pointer}]"]
    kind = element["type"]
    _too_long(errors, element.get("action_id"), ID_MAX, f"{pointer}/action_id")
    _text(errors, element.get("placeholder"), PLACEHOLDER_MAX, f"{pointer}/placeholder", plain=True)
    _confirm(errors, element.get("confirm"), f"{pointer}/confirm")
    if kind == "button":
        _text(errors, element.get("text"), BUTTON_TEXT_MAX, f"{pointer}/text", plain=True)
        _too_long(errors, element.get("value"), BUTTON_VALUE_MAX, f"{pointer}/value")
        _too_long(errors, element.get("url"), URL_MAX, f"{pointer}/url")
    elif kind in ("static_select", "multi_static_select", "overflow", "radio_buttons"):
        for n, option in enumerate(
            _items(errors, element.get("options"), SELECT_OPTIONS_MAX, f"{pointer}/options")
        ):
            _option(errors, option, f"{pointer}/options/{n}")
        if element.get("initial_option") is not None:
            _option(errors, element["initial_option"], f"{pointer}/initial_option")
    elif kind == "checkboxes":
        for key in ("options", "initial_options"):
            for n, option in enumerate(
                _items(errors, element.get(key), CHECKBOX_OPTIONS_MAX, f"{pointer}/{key}")
            ):
                _option(errors, option, f"{pointer}/{key}/{n}")
    elif kind == "plain_text_input":
        for key, low in (("max_length", 1), ("min_length", 0)):
            value = element.get(key)
            if value is not None and (
                not isinstance(value, int) or not low <= value <= TEXT_INPUT_LENGTH_MAX
            ):
                errors.append(
                    f"[ERROR] must be between {low} and {TEXT_INPUT_LENGTH_MAX} "
                    f"[json-pointer:{pointer}/{key}]"
                )
    return errors


def block_errors(blocks: list[Any], *, limit: int, pointer: str) -> list[str]:
    """Every problem Slack reports for a list of blocks (50 in a message, 100 in a view)."""
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        at = f"{pointer}/{i}"
        where = f"[json-pointer:{at}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"[ERROR] missing required field: type {where}")
            continue
        kind = block["type"]
        if kind not in KNOWN_BLOCK_TYPES:
            errors.append(f"[ERROR] unsupported type: {kind} {where}")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > ID_MAX:
                errors.append(f"[ERROR] invalid block_id {where}")
            elif block_id in block_ids:
                errors.append(f"[ERROR] duplicate block_id: {block_id} {where}")
            else:
                block_ids.add(block_id)
        if kind == "section":
            text = block.get("text")
            if text is None and not block.get("fields"):
                errors.append(f"[ERROR] must provide text or fields {where}")
            _text(errors, text, SECTION_TEXT_MAX, f"{at}/text")
            fields = _items(errors, block.get("fields"), SECTION_FIELDS_MAX_ITEMS, f"{at}/fields")
            for n, field in enumerate(fields):
                _text(errors, field, SECTION_FIELD_MAX, f"{at}/fields/{n}")
            if block.get("accessory") is not None:
                errors.extend(element_errors(block["accessory"], f"{at}/accessory"))
        elif kind == "header":
            text = block.get("text")
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                errors.append(f"[ERROR] header text must be plain_text {where}")
            else:
                _too_long(errors, text.get("text", ""), HEADER_TEXT_MAX, f"{at}/text/text")
        elif kind in ("actions", "context"):
            elements = block.get("elements")
            cap = ACTIONS_ELEMENTS_MAX if kind == "actions" else CONTEXT_ELEMENTS_MAX
            if not isinstance(elements, list) or not elements:
                errors.append(f"[ERROR] must provide elements {where}")
                continue
            _items(errors, elements, cap, f"{at}/elements")
            for n, element in enumerate(elements):
                if kind == "context" and isinstance(element, dict) and "text" in element:
                    _text(errors, element, TEXT_OBJECT_MAX, f"{at}/elements/{n}")
                elif kind == "actions":
                    errors.extend(element_errors(element, f"{at}/elements/{n}"))
        elif kind == "input":
            if not isinstance(block.get("label"), dict):
                errors.append(f"[ERROR] missing required field: label {where}")
            else:
                _text(errors, block["label"], INPUT_LABEL_MAX, f"{at}/label", plain=True)
            _text(errors, block.get("hint"), INPUT_HINT_MAX, f"{at}/hint", plain=True)
            if not isinstance(block.get("element"), dict):
                errors.append(f"[ERROR] missing required field: element {where}")
            else:
                errors.extend(element_errors(block["element"], f"{at}/element"))
    return errors
