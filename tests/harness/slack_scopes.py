"""Bot-token OAuth scopes of the Slack Web API methods the emulator implements.

Taken from the "Required scopes / Bot tokens" facts of each method's reference
page on docs.slack.dev.  Slack accepts a call when the token holds ANY ONE of
the listed scopes; for the Conversations API the scope that really counts also
depends on the kind of conversation (public channel, private channel, DM,
group DM), which ``CONVERSATION_TYPE_SCOPES`` records.

An empty set means the method needs no scope (``auth.test``, ``views.*`` and
``chat.getPermalink``).
"""

from __future__ import annotations

from collections.abc import Iterable

_READ = frozenset({"channels:read", "groups:read", "im:read", "mpim:read"})
_HISTORY = frozenset({"channels:history", "groups:history", "im:history", "mpim:history"})
_WRITE_TOPIC = frozenset(
    {
        "channels:manage",
        "channels:write.topic",
        "groups:write",
        "groups:write.topic",
        "im:write",
        "im:write.topic",
        "mpim:write",
        "mpim:write.topic",
    }
)

METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    # chat
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "chat.getPermalink": frozenset(),
    # conversations
    "conversations.create": frozenset(
        {"channels:manage", "channels:write", "groups:write", "im:write", "mpim:write"}
    ),
    "conversations.invite": frozenset(
        {
            "channels:manage",
            "channels:write.invites",
            "groups:write",
            "groups:write.invites",
            "im:write",
            "mpim:write",
        }
    ),
    "conversations.join": frozenset({"channels:join"}),
    "conversations.kick": frozenset({"channels:manage", "groups:write"}),
    "conversations.info": _READ,
    "conversations.members": _READ,
    "conversations.list": _READ,
    "conversations.history": _HISTORY,
    "conversations.replies": _HISTORY,
    "conversations.setTopic": _WRITE_TOPIC,
    "conversations.setPurpose": _WRITE_TOPIC,
    "conversations.archive": frozenset(
        {"channels:manage", "channels:write", "groups:write", "im:write", "mpim:write"}
    ),
    "conversations.open": frozenset({"channels:manage", "groups:write", "im:write", "mpim:write"}),
    # users and user groups
    "users.info": frozenset({"users:read"}),
    "users.list": frozenset({"users:read"}),
    "users.lookupByEmail": frozenset({"users:read.email"}),
    "usergroups.list": frozenset({"usergroups:read"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    # channel furniture
    "bookmarks.add": frozenset({"bookmarks:write"}),
    "bookmarks.list": frozenset({"bookmarks:read"}),
    "pins.add": frozenset({"pins:write"}),
    "pins.list": frozenset({"pins:read"}),
    "reactions.add": frozenset({"reactions:write"}),
    "reactions.get": frozenset({"reactions:read"}),
    # surfaces
    "views.open": frozenset(),
    "views.update": frozenset(),
    "views.push": frozenset(),
    "views.publish": frozenset(),
    # files (upload v2 flow)
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
}

# Conversation kinds, as the emulator names them.
PUBLIC = "public_channel"
PRIVATE = "private_channel"
IM = "im"
MPIM = "mpim"

_R = {PUBLIC: "channels:read", PRIVATE: "groups:read", IM: "im:read", MPIM: "mpim:read"}
_H = {PUBLIC: "channels:history", PRIVATE: "groups:history", IM: "im:history", MPIM: "mpim:history"}


def _by_kind(table: dict[str, Iterable[str] | str]) -> dict[str, frozenset[str]]:
    return {
        kind: frozenset({scopes} if isinstance(scopes, str) else scopes)
        for kind, scopes in table.items()
    }


# For Conversations API methods: which scopes (any one) are needed for a given
# kind of conversation.  A method/kind pair missing here is not refined.
CONVERSATION_TYPE_SCOPES: dict[str, dict[str, frozenset[str]]] = {
    "conversations.info": _by_kind(dict(_R)),
    "conversations.members": _by_kind(dict(_R)),
    "conversations.history": _by_kind(dict(_H)),
    "conversations.replies": _by_kind(dict(_H)),
    "conversations.create": _by_kind(
        {PUBLIC: ("channels:manage", "channels:write"), PRIVATE: ("groups:write",)}
    ),
    "conversations.invite": _by_kind(
        {
            PUBLIC: ("channels:manage", "channels:write.invites"),
            PRIVATE: ("groups:write", "groups:write.invites"),
            IM: ("im:write",),
            MPIM: ("mpim:write",),
        }
    ),
    "conversations.kick": _by_kind({PUBLIC: ("channels:manage",), PRIVATE: ("groups:write",)}),
    "conversations.setTopic": _by_kind(
        {
            PUBLIC: ("channels:manage", "channels:write.topic"),
            PRIVATE: ("groups:write", "groups:write.topic"),
            IM: ("im:write", "im:write.topic"),
            MPIM: ("mpim:write", "mpim:write.topic"),
        }
    ),
    "conversations.setPurpose": _by_kind(
        {
            PUBLIC: ("channels:manage", "channels:write.topic"),
            PRIVATE: ("groups:write", "groups:write.topic"),
            IM: ("im:write", "im:write.topic"),
            MPIM: ("mpim:write", "mpim:write.topic"),
        }
    ),
    "conversations.archive": _by_kind(
        {
            PUBLIC: ("channels:manage", "channels:write"),
            PRIVATE: ("groups:write",),
            IM: ("im:write",),
            MPIM: ("mpim:write",),
        }
    ),
    "conversations.open": _by_kind({IM: ("im:write",), MPIM: ("mpim:write",)}),
}

# conversations.list needs the read scope of every requested ``types`` entry.
LIST_TYPE_SCOPES: dict[str, str] = dict(_R)

# Methods whose arguments Slack does not read from a JSON body ("read"
# methods): a JSON body's arguments are ignored, only the query string counts.
READ_METHODS: frozenset[str] = frozenset(
    {
        "auth.test",
        "bookmarks.list",
        "chat.getPermalink",
        "conversations.history",
        "conversations.info",
        "conversations.list",
        "conversations.members",
        "conversations.replies",
        "pins.list",
        "reactions.get",
        "usergroups.list",
        "usergroups.users.list",
        "users.info",
        "users.list",
        "users.lookupByEmail",
    }
)

# Every scope mentioned above; what a token is granted when the emulator is
# built with scopes=None.
ALL_SCOPES: frozenset[str] = frozenset(
    {scope for scopes in METHOD_SCOPES.values() for scope in scopes}
    | {"chat:write.public", "chat:write.customize", "commands", "app_mentions:read"}
)


def missing_scopes(method: str, granted: Iterable[str] | None) -> frozenset[str]:
    """Scopes that would satisfy ``method`` when none of them is granted.

    Returns an empty set when the call is allowed: the method needs no scope,
    ``granted`` is None (everything granted), or one of the accepted scopes is
    granted.  Unknown methods need nothing here (they fail as unknown_method).
    """
    needed = METHOD_SCOPES.get(method, frozenset())
    if granted is None or not needed:
        return frozenset()
    granted_set = frozenset(granted)
    return frozenset() if needed & granted_set else needed


def missing_conversation_scopes(
    method: str, kind: str, granted: Iterable[str] | None
) -> frozenset[str]:
    """Like :func:`missing_scopes`, refined by the kind of conversation."""
    needed = CONVERSATION_TYPE_SCOPES.get(method, {}).get(kind, frozenset())
    if granted is None or not needed:
        return frozenset()
    return frozenset() if needed & frozenset(granted) else needed
