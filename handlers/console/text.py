"""Block Kit as terminal text: what the console prints instead of a Slack message.

Buttons become numbered choices ("[1] Show help") that the console user
picks by typing the number; the same action handlers then run as for a click.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handlers.core.rendering import RenderedMessage

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<(https?://[^|>]+)>")
_USER = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]+))?>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|([^>]*))?>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^>]+))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
# Slack renders these shortcodes as emoji; a terminal gets the characters themselves.
EMOJI = {
    "warning": "⚠️",
    "white_check_mark": "✅",
    "x": "❌",
    "rotating_light": "🚨",
    "leftwards_arrow_with_hook": "↩️",
    "white_small_square": "▫️",
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "large_green_circle": "🟢",
    "white_circle": "⚪",
    "no_entry": "⛔",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "fast_forward": "⏩",
    "twisted_rightwards_arrows": "🔀",
    "double_vertical_bar": "⏸️",
    "tada": "🎉",
    "satellite_antenna": "📡",
    "rocket": "🚀",
    "pushpin": "📌",
    "memo": "📝",
    "information_source": "\u2139\ufe0f",
    "hatching_chick": "🐣",
    "hammer_and_wrench": "🛠️",
    "grey_question": "❔",
    "boom": "💥",
    "alarm_clock": "⏰",
    "heavy_multiplication_x": "✖️",
    "pager": "📟",
    "point_right": "👉",
    "raised_hand": "✋",
    "sos": "🆘",
    "stethoscope": "🩺",
}


# Slack's mrkdwn emphasis, which a terminal shows literally: *bold*, _italic_, `code`.
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_CODE = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"```\n?")


@dataclass(frozen=True)
class Choice:
    """Something the console user can press by its number: a button, a checkbox, a picker."""

    label: str
    action_id: str
    value: str
    block_id: str = ""
    kind: str = "button"  # "button", "checkbox" (one option of a checklist) or "users_select"
    # checkbox: the options of its checklist ticked when it was printed (a click sends them all)
    ticked: tuple[str, ...] = ()
    confirm: str | None = None  # the question Slack asks before the click is sent


@dataclass
class ConsoleText:
    text: str
    choices: list[Choice] = field(default_factory=list)


Numbering = Callable[[Choice], int]


def plain(mrkdwn: str, *, markup: bool = True) -> str:
    """Slack text as terminal text; `markup`: it is mrkdwn, so *bold* and `code` lose their marks."""
    text = _LINK.sub(r"\2 (\1)", mrkdwn)
    text = _BARE_LINK.sub(r"\1", text)
    text = _USER.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _GROUP.sub(lambda m: m.group(2) or "@" + m.group(1), text)
    text = _SPECIAL.sub(r"@\1", text)
    text = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    if markup:
        text = _FENCE.sub("", text)
        text = _CODE.sub(r"\1", text)
        text = _BOLD.sub(r"\1", text)
        text = _ITALIC.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return plain(str(obj.get("text", "")), markup=obj.get("type") == "mrkdwn")
    return ""


def counting(first: int = 1) -> Numbering:
    """Numbers 1, 2, 3… in the order the choices are printed."""
    numbers = itertools.count(first)
    return lambda _choice: next(numbers)


def to_console(
    message: RenderedMessage, *, number: Numbering | None = None, pressable: bool = True
) -> ConsoleText:
    if not message.blocks:
        return ConsoleText(plain(message.text))
    number = number or counting()
    lines: list[str] = []
    choices: list[Choice] = []

    def offer(choice: Choice) -> str:
        choices.append(choice)
        if not pressable:  # a one-off CLI command: nothing is left to press it in
            return f"[{choice.label}]"
        return f"[{number(choice)}] {choice.label}"

    for block in message.blocks:
        kind = block.get("type")
        block_id = str(block.get("block_id", ""))
        if kind == "header":
            title = _text_of(block.get("text"))
            lines += [title, "=" * min(len(title), 72)]
        elif kind == "section":
            if block.get("text"):
                lines.append(_text_of(block["text"]))
            for item in block.get("fields", []):
                lines.append("  " + _text_of(item).replace("\n", " "))
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") == "checkboxes":
                lines += ["  " + offer(c) for c in _checklist(accessory, block_id)]
            elif isinstance(accessory, dict) and accessory.get("type") in _PRESSABLE:
                lines.append("  " + offer(_choice(accessory, block_id)))
        elif kind == "context":
            lines.append("  " + "  ".join(_text_of(e) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "actions":
            labels = [
                offer(_choice(element, block_id))
                for element in block.get("elements", [])
                if element.get("type") in _PRESSABLE
            ]
            if labels:
                lines.append("  ".join(labels))
    return ConsoleText("\n".join(lines), choices)


_PRESSABLE = ("button", "users_select")


def _choice(element: dict[str, Any], block_id: str) -> Choice:
    confirm = element.get("confirm")
    question = None
    if isinstance(confirm, dict):
        question = " ".join(
            part for part in (_text_of(confirm.get("title")), _text_of(confirm.get("text"))) if part
        )
    if element.get("type") == "users_select":
        label = _text_of(element.get("placeholder")) or "Pick a person"
        return Choice(f"{label}…", str(element.get("action_id", "")), "", block_id, "users_select")
    return Choice(
        label=_text_of(element.get("text")),
        action_id=str(element.get("action_id", "")),
        value=str(element.get("value", "")),
        block_id=block_id,
        confirm=question,
    )


def _checklist(accessory: dict[str, Any], block_id: str) -> list[Choice]:
    """One choice per option: pressing it ticks or unticks that option."""
    ticked = tuple(str(o.get("value")) for o in accessory.get("initial_options", []))
    choices = []
    for option in accessory.get("options", []):
        value = str(option.get("value"))
        mark = "x" if value in ticked else " "
        choices.append(
            Choice(
                label=f"[{mark}] {_text_of(option.get('text'))}",
                action_id=str(accessory.get("action_id", "")),
                value=value,
                block_id=block_id,
                kind="checkbox",
                ticked=ticked,
            )
        )
    return choices
