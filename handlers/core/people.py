"""People named as people name them: `@alice` to a user id.

Slack turns a mention picked from its list into `<@U0ALICE>`, but `@alice`
typed in a form, pasted, or typed too fast stays plain text; in the console a
person is always a name. Both arrive here and leave as user ids: the chat
platform knows who goes by a name (Slack: users.list, cached; the console: its
users are their names). A name nobody goes by is refused with a clear answer
instead of becoming an owner nobody will ever see.
"""

from __future__ import annotations

import re

from services.chat import Chat, ChatError
from services.errors import UserFacingError

# A plain @name: not inside Slack's <@U…> (preceded by "<"), not an e-mail (preceded by a
# word), not Slack's @here / @channel / @everyone (words for everybody, not a person).
_PLAIN_NAME = re.compile(
    r"(?<![<\w@])@(?!(?:here|channel|everyone)\b)([A-Za-z0-9][\w.\-]{0,79})", re.IGNORECASE
)
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")
MAX_NAMES = 50  # in one text: more is a paste, not a list of owners


def find_person(chat: Chat, typed: str) -> str:
    """The user id for what was typed for one person: `@alice`, `alice`, `<@U…>` or an id."""
    text = typed.strip()
    mention = _MENTION.fullmatch(text)
    if mention:
        return mention.group(1)
    name = text.removeprefix("@").rstrip(".,;:")
    if not re.fullmatch(r"[A-Za-z0-9][\w.\-]{0,79}", name):
        raise UserFacingError(
            f"{text[:80]!r} is not a person's name.", hint="Type @ and the person's name."
        )
    return _one(chat, name)


def _one(chat: Chat, name: str) -> str:
    try:
        found = chat.find_users(name)
    except ChatError as exc:
        raise UserFacingError(
            f"Could not look up @{name} ({exc.error}).",
            hint="Mention the person by picking them from Slack's list, or try again.",
        ) from exc
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserFacingError(
            f"Nobody here goes by @{name}.",
            hint="Check the spelling, or mention the person by picking them from Slack's list.",
        )
    raise UserFacingError(
        f"More than one person goes by @{name}.",
        hint="Mention the one you mean by picking them from Slack's list.",
    )


def mention_people(chat: Chat, text: str) -> str:
    """`add validation @bob` → `add validation <@U0BOB>`; an unknown name is refused."""
    names = {m.group(1).rstrip(".") for m in _PLAIN_NAME.finditer(text)}
    if len(names) > MAX_NAMES:
        raise UserFacingError(f"That names {len(names)} people; name at most {MAX_NAMES}.")
    ids = {name: _one(chat, name) for name in sorted(names)}
    return _PLAIN_NAME.sub(lambda m: _mention(ids, m.group(1)), text)


def _mention(ids: dict[str, str], raw: str) -> str:
    name = raw.rstrip(".")
    return f"<@{ids[name]}>{raw[len(name) :]}"
