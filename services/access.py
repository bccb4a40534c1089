"""Who may do what: checked on every command and every click, from the configuration."""

from __future__ import annotations

from services.chat import Chat, ChatError
from services.errors import PermissionDeniedError
from services.settings import AccessSettings

TERMINAL_PREFIXES = ("console:", "cli:")


def is_terminal_actor(actor: str) -> bool:
    return actor.startswith(TERMINAL_PREFIXES)


def members_of(targets: list[str], *, chat: Chat) -> set[str]:
    """User ids named directly, plus the members of the user groups named."""
    people = {t for t in targets if not t.startswith("S")}
    for group in (t for t in targets if t.startswith("S")):
        try:
            people |= set(chat.usergroup_members(group))
        except ChatError as exc:
            # Failing closed: a group we cannot read grants nothing.
            raise PermissionDeniedError(
                f"Could not check membership of user group {group} ({exc.error}).",
                hint="Try again in a moment; if it persists, check the bot's usergroups:read scope.",
            ) from exc
    return people


def require_deployer(actor: str, *, access: AccessSettings, chat: Chat, what: str) -> None:
    if access.console_is_trusted and is_terminal_actor(actor):
        return
    if actor in members_of(access.deployers, chat=chat):
        return
    raise PermissionDeniedError(
        f"Only deployers may {what}.",
        hint="Ask someone listed under access.deployers in the bot's configuration.",
    )
