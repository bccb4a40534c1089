"""users.* and usergroups.*, with the members and groups tests seed and read."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from tests.harness.slack_emulator.model import (
    BOT_ID,
    BOT_USER_ID,
    JSON,
    SlackError,
    _flag,
    _tz_offset,
)
from tests.harness.slack_emulator.state import EmulatorState


class UsersMethods(EmulatorState):
    """The users.* and usergroups.* methods."""

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str | None = None,
        tz: str = "UTC",
        deleted: bool = False,
        is_bot: bool = False,
        team_id: str | None = None,
        *,
        email: str | None = None,
        is_admin: bool = False,
    ) -> str:
        """Add (or replace) a workspace member.  Returns the user id."""
        real = real_name if real_name is not None else name
        mail = email if email is not None else (None if is_bot else f"{name}@example.com")
        profile: JSON = {
            "real_name": real,
            "real_name_normalized": real,
            "display_name": name,
            "display_name_normalized": name,
            "team": team_id or self.team_id,
        }
        if mail:
            profile["email"] = mail
        if is_bot:
            profile["bot_id"] = BOT_ID if id == BOT_USER_ID else f"B{id[1:]}"
        user: JSON = {
            "id": id,
            "team_id": team_id or self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": _tz_offset(tz),
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(self.clock()),
            "profile": profile,
        }
        with self._lock:
            self._users[id] = user
        self._notify()
        return id

    def add_usergroup(
        self,
        handle: str,
        users: Iterable[str],
        name: str | None = None,
        *,
        usergroup_id: str | None = None,
        description: str = "",
    ) -> str:
        """Add a user group (``@handle``).  Returns its id (``S...``)."""
        with self._lock:
            gid = usergroup_id or self._new_id("S")
            now = int(self.clock())
            self._usergroups[gid] = {
                "id": gid,
                "team_id": self.team_id,
                "is_usergroup": True,
                "is_subteam": True,
                "name": name or handle,
                "description": description,
                "handle": handle,
                "is_external": False,
                "date_create": now,
                "date_update": now,
                "date_delete": 0,
                "auto_type": None,
                "created_by": BOT_USER_ID,
                "updated_by": BOT_USER_ID,
                "deleted_by": None,
                "prefs": {"channels": [], "groups": []},
                "users": list(dict.fromkeys(users)),
            }
        self._notify()
        return gid

    def user(self, user_id: str) -> JSON | None:
        with self._lock:
            found = self._users.get(user_id)
            return copy.deepcopy(found) if found else None

    def usergroup(self, usergroup_id: str) -> JSON | None:
        with self._lock:
            found = self._usergroups.get(usergroup_id)
            return copy.deepcopy(found) if found else None

    def _user_obj(self, user: JSON) -> JSON:
        out = copy.deepcopy(user)
        if self.scopes is not None and "users:read.email" not in self.scopes:
            out["profile"].pop("email", None)
        return out

    def _users_info(self, a: JSON) -> JSON:
        user = self._users.get(str(a.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": self._user_obj(user)}

    def _users_list(self, a: JSON) -> JSON:
        page, next_cursor = self._page(list(self._users.values()), a, default=1000, maximum=1000)
        return {
            "ok": True,
            "members": [self._user_obj(u) for u in page],
            "cache_ts": int(self.clock()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _users_lookup_by_email(self, a: JSON) -> JSON:
        email_arg = str(a.get("email") or "").strip().lower()
        for user in self._users.values():
            if str(user["profile"].get("email", "")).lower() == email_arg and email_arg:
                return {"ok": True, "user": self._user_obj(user)}
        raise SlackError("users_not_found")

    def _usergroups_list(self, a: JSON) -> JSON:
        include_users = _flag(a.get("include_users"))
        include_count = _flag(a.get("include_count"))
        include_disabled = _flag(a.get("include_disabled"))
        groups = []
        for group in self._usergroups.values():
            if group["date_delete"] and not include_disabled:
                continue
            out = copy.deepcopy(group)
            if not include_users:
                out.pop("users", None)
            if include_count:
                out["user_count"] = len(group["users"])
            groups.append(out)
        return {"ok": True, "usergroups": groups}

    def _usergroups_users_list(self, a: JSON) -> JSON:
        group = self._usergroups.get(str(a.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        if group["date_delete"] and not _flag(a.get("include_disabled")):
            raise SlackError("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}
