"""Slack's Block Kit limits, kept in one place after rendering.

Slack refuses a whole message (`invalid_blocks`) or form (`invalid_arguments`) when
one text is a character too long, and a refused `chat.update` leaves a header stale
for good. So every rendered document is walked once and each user-visible text is cut
to Slack's documented limit with a visible "…"; values and ids, which Slack shows to
nobody, are cut without one. Numbers are from Slack's Block Kit reference (blocks,
block elements, composition objects, views) and chat.postMessage.
"""

from __future__ import annotations

from typing import Any

ELLIPSIS = "…"

MESSAGE_TEXT = 40_000  # chat.postMessage: Slack truncates longer text itself
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100  # modals and the App Home tab
VIEW_TITLE = 24  # modal title, submit and close
PRIVATE_METADATA = 3000
ID = 255  # block_id, action_id, callback_id, external_id
TEXT_OBJECT = 3000
SECTION_TEXT = 3000
SECTION_FIELDS = 10
SECTION_FIELD = 2000
HEADER = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
INPUT_LABEL = 2000
INPUT_HINT = 2000
PLACEHOLDER = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
URL = 3000
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
SELECT_OPTIONS = 100
CHECKBOX_OPTIONS = 10
TEXT_INPUT_LENGTH = 3000  # the largest max_length a plain_text_input may declare
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30

JSON = dict[str, Any]


def cut_visible(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, ending in "…" when it was cut.

    The cut never splits Slack markup: an entity (`&amp;`) or a `<…>` link or mention
    that would be left open is dropped whole.
    """
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    opening = head.rfind("<")
    if opening != -1 and ">" not in head[opening:]:
        head = head[:opening]
    return head + ELLIPSIS


def _cut_text(obj: Any, limit: int) -> None:
    """A text object ({"type": …, "text": …}) cut in place."""
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        obj["text"] = cut_visible(obj["text"], min(limit, TEXT_OBJECT))


def _cut_value(obj: JSON, key: str, limit: int) -> None:
    """A value or id nobody sees: cut, no ellipsis (the handler reads it back)."""
    value = obj.get(key)
    if isinstance(value, str) and len(value) > limit:
        obj[key] = value[:limit]


def _cap(obj: JSON, key: str, limit: int) -> list[Any]:
    items = obj.get(key)
    if not isinstance(items, list):
        return []
    if len(items) > limit:
        obj[key] = items = items[:limit]
    return items


def _option(option: Any) -> None:
    if isinstance(option, dict):
        _cut_text(option.get("text"), OPTION_TEXT)
        _cut_text(option.get("description"), OPTION_DESCRIPTION)
        _cut_value(option, "value", OPTION_VALUE)


def _confirm(confirm: Any) -> None:
    if isinstance(confirm, dict):
        _cut_text(confirm.get("title"), CONFIRM_TITLE)
        _cut_text(confirm.get("text"), CONFIRM_TEXT)
        _cut_text(confirm.get("confirm"), CONFIRM_BUTTON)
        _cut_text(confirm.get("deny"), CONFIRM_BUTTON)


def fit_element(element: Any) -> None:
    if not isinstance(element, dict):
        return
    _cut_value(element, "action_id", ID)
    _cut_text(element.get("placeholder"), PLACEHOLDER)
    _confirm(element.get("confirm"))
    kind = element.get("type")
    if kind == "button":
        _cut_text(element.get("text"), BUTTON_TEXT)
        _cut_value(element, "value", BUTTON_VALUE)
        _cut_value(element, "url", URL)
    elif kind == "checkboxes":
        # Slack refuses an initial option that is not among the options: drop those cut off.
        kept = _cap(element, "options", CHECKBOX_OPTIONS)
        values = {o.get("value") for o in kept if isinstance(o, dict)}
        initial = [
            o
            for o in _cap(element, "initial_options", CHECKBOX_OPTIONS)
            if isinstance(o, dict) and o.get("value") in values
        ]
        if "initial_options" in element:
            element["initial_options"] = initial
        for option in kept + initial:
            _option(option)
    elif "options" in element or "initial_option" in element:
        for option in _cap(element, "options", SELECT_OPTIONS):
            _option(option)
        _option(element.get("initial_option"))
    elif kind == "plain_text_input":
        most = element.get("max_length")
        most = min(most, TEXT_INPUT_LENGTH) if isinstance(most, int) else TEXT_INPUT_LENGTH
        if "max_length" in element:
            element["max_length"] = most
        if isinstance(element.get("initial_value"), str):
            element["initial_value"] = cut_visible(element["initial_value"], most)


def fit_block(block: Any) -> None:
    if not isinstance(block, dict):
        return
    _cut_value(block, "block_id", ID)
    kind = block.get("type")
    if kind == "section":
        _cut_text(block.get("text"), SECTION_TEXT)
        for field in _cap(block, "fields", SECTION_FIELDS):
            _cut_text(field, SECTION_FIELD)
        fit_element(block.get("accessory"))
    elif kind == "header":
        _cut_text(block.get("text"), HEADER)
    elif kind == "context":
        for element in _cap(block, "elements", CONTEXT_ELEMENTS):
            _cut_text(element, TEXT_OBJECT)
    elif kind == "actions":
        for element in _cap(block, "elements", ACTIONS_ELEMENTS):
            fit_element(element)
    elif kind == "input":
        _cut_text(block.get("label"), INPUT_LABEL)
        _cut_text(block.get("hint"), INPUT_HINT)
        fit_element(block.get("element"))


def fit_blocks(blocks: list[Any], *, most: int) -> list[Any]:
    """At most `most` blocks, each within its limits; a last one says how many were left out."""
    if len(blocks) > most:
        left_out = len(blocks) - most + 1
        note = {"type": "mrkdwn", "text": f"{ELLIPSIS} and {left_out} more not shown here."}
        blocks = [*blocks[: most - 1], {"type": "context", "elements": [note]}]
    for block in blocks:
        fit_block(block)
    return blocks


def fit_document(document: JSON) -> JSON:
    """A rendered message, modal or Home tab, cut in place to Slack's limits."""
    surface = document.get("type")
    if surface in ("modal", "home"):
        for key in ("title", "submit", "close"):
            _cut_text(document.get(key), VIEW_TITLE)
        _cut_value(document, "private_metadata", PRIVATE_METADATA)
        _cut_value(document, "callback_id", ID)
        _cut_value(document, "external_id", ID)
        most = VIEW_BLOCKS
    else:
        if isinstance(document.get("text"), str):
            document["text"] = cut_visible(document["text"], MESSAGE_TEXT)
        most = MESSAGE_BLOCKS
    if isinstance(document.get("blocks"), list):
        document["blocks"] = fit_blocks(document["blocks"], most=most)
    return document
