"""A Slack form (modal) asked field by field in the terminal.

The console renders the same view the Slack bot would open with views.open,
asks for each input block in order, and hands the answers over in the shape
`handlers.core.forms.parse_state` gives for a Slack submission, so the same
validation and the same submission handler run. A field the validation refuses
is asked again, with the message Slack would show next to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handlers.console.text import plain

CANCEL_WORDS = frozenset({"cancel", ":cancel"})
# Turns what the person typed for a people picker (`@alice`) into a user id, or raises.
FindPerson = Callable[[str], str]


@dataclass(frozen=True)
class Field:
    block_id: str
    label: str
    kind: str  # "text", "select", "user" or "checkboxes"
    optional: bool = False
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    initial: Any = None
    multiline: bool = False


class AnswerError(ValueError):
    """What the person typed does not fit the field; the message says what would."""


def _label(obj: Any) -> str:
    return plain(str(obj.get("text", "")), markup=obj.get("type") == "mrkdwn") if obj else ""


def fields_of(view: dict[str, Any]) -> list[Field]:
    fields = []
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        kind = element.get("type")
        options = tuple(
            (str(o.get("value")), _label(o.get("text"))) for o in element.get("options", [])
        )
        initial: Any = element.get("initial_value")
        if kind in ("static_select", "radio_buttons"):
            kind_name = "select"
            initial = (element.get("initial_option") or {}).get("value")
        elif kind == "users_select":
            kind_name, initial = "user", element.get("initial_user")
        elif kind in ("checkboxes", "multi_static_select"):  # several of the options
            kind_name = "checkboxes"
            initial = [str(o.get("value")) for o in element.get("initial_options", [])]
        else:
            kind_name = "text"
        fields.append(
            Field(
                block_id=str(block.get("block_id")),
                label=_label(block.get("label")),
                kind=kind_name,
                optional=bool(block.get("optional")),
                options=options,
                initial=initial,
                multiline=bool(element.get("multiline")),
            )
        )
    return fields


@dataclass
class TerminalForm:
    callback_id: str
    metadata: str
    title: str
    submit_label: str
    fields: list[Field]
    values: dict[str, Any] = field(default_factory=dict)
    to_ask: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, view: dict[str, Any]) -> TerminalForm:
        fields = fields_of(view)
        return cls(
            callback_id=str(view.get("callback_id", "")),
            metadata=str(view.get("private_metadata") or ""),
            title=_label(view.get("title")),
            submit_label=_label(view.get("submit")) or "Submit",
            fields=fields,
            values={f.block_id: f.initial for f in fields},
            to_ask=list(range(len(fields))),
        )

    @property
    def done(self) -> bool:
        return not self.to_ask

    def intro(self) -> str:
        return (
            f"{self.title} (a form: answer each field; Enter keeps the default or skips an"
            " optional field; cancel closes it and sends nothing)"
        )

    def question(self) -> str:
        current = self.fields[self.to_ask[0]]
        lines = [f"{current.label}{'' if current.optional else ' (required)'}:"]
        if current.kind in ("select", "checkboxes"):
            lines += [f"  {n}) {label}" for n, (_, label) in enumerate(current.options, start=1)]
            many = " (several: 1,3)" if current.kind == "checkboxes" else ""
            lines.append(f"  Type a number{many} or the name.")
        elif current.kind == "user":
            lines.append("  Type @name.")
        elif current.multiline:
            lines.append("  One line (for a list, separate the items with ;).")
        default = self._shown(current, current.initial)
        if default:
            lines.append(f"  (Enter keeps: {default})")
        return "\n".join(lines)

    def _shown(self, current: Field, value: Any) -> str:
        if not value:
            return ""
        labels = dict(current.options)
        if isinstance(value, list):
            return ", ".join(labels.get(str(v), str(v)) for v in value)
        return labels.get(value, str(value))

    def answer(self, text: str, *, find_person: FindPerson) -> None:
        """Take the answer to the current question; raises AnswerError to ask again."""
        current = self.fields[self.to_ask[0]]
        typed = text.strip()
        if typed:
            self.values[current.block_id] = self._parse(current, typed, find_person)
        elif not current.optional and not current.initial:
            raise AnswerError(f"{current.label} is required.")
        self.to_ask.pop(0)

    def _parse(self, current: Field, typed: str, find_person: FindPerson) -> Any:
        if current.kind == "select":
            return self._option(current, typed)
        if current.kind == "checkboxes":
            return [self._option(current, part) for part in typed.split(",") if part.strip()]
        if current.kind == "user":
            return find_person(typed)
        return typed

    def _option(self, current: Field, typed: str) -> str:
        text = typed.strip()
        if text.isdigit() and 1 <= int(text) <= len(current.options):
            return current.options[int(text) - 1][0]
        for value, label in current.options:
            if text.lower() in (value.lower(), label.lower()):
                return value
        raise AnswerError(
            f"{text[:80]!r} is not one of the choices for {current.label}:"
            f" type 1 to {len(current.options)}."
        )

    def refused(self, errors: dict[str, str]) -> str:
        """The validation's messages, next to the fields' names; those fields are asked again."""
        order = [i for i, f in enumerate(self.fields) if f.block_id in errors]
        self.to_ask = order or list(range(len(self.fields)))
        by_id = {f.block_id: f.label for f in self.fields}
        return "\n".join(f"{by_id.get(k, k)}: {message}" for k, message in errors.items())
