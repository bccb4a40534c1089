"""Block Kit as terminal text: what the console prints instead of a Slack message.

Buttons become numbered choices ("[1] Show help") that the console user
picks by typing the number; the same action handlers then run as for a click.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from handlers.rendering import Message

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
}


@dataclass(frozen=True)
class Choice:
    label: str
    action_id: str
    value: str


@dataclass
class ConsoleText:
    text: str
    choices: list[Choice] = field(default_factory=list)


def plain(mrkdwn: str) -> str:
    text = _LINK.sub(r"\2 (\1)", mrkdwn)
    text = _BARE_LINK.sub(r"\1", text)
    text = _USER.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _GROUP.sub(lambda m: m.group(2) or "@" + m.group(1), text)
    text = _SPECIAL.sub(r"@\1", text)
    text = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return plain(str(obj.get("text", "")))
    return ""


def to_console(message: Message, *, first_choice: int = 1) -> ConsoleText:
    if not message.blocks:
        return ConsoleText(plain(message.text))
    lines: list[str] = []
    choices: list[Choice] = []
    for block in message.blocks:
        kind = block.get("type")
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
                ticked = {o.get("value") for o in accessory.get("initial_options", [])}
                for option in accessory.get("options", []):
                    mark = "x" if option.get("value") in ticked else " "
                    lines.append(f"  [{mark}] {_text_of(option.get('text'))}")
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                choices.append(_choice(accessory))
                lines.append(f"  [{first_choice + len(choices) - 1}] {choices[-1].label}")
        elif kind == "context":
            lines.append("  " + "  ".join(_text_of(e) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "actions":
            labels = []
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    choices.append(_choice(element))
                    labels.append(f"[{first_choice + len(choices) - 1}] {choices[-1].label}")
            if labels:
                lines.append("  ".join(labels))
    return ConsoleText("\n".join(lines), choices)


def _choice(button: dict[str, Any]) -> Choice:
    return Choice(
        label=_text_of(button.get("text")),
        action_id=str(button.get("action_id", "")),
        value=str(button.get("value", "")),
    )
