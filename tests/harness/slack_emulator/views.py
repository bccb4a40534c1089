"""views.* (open, push, update, publish) and the trigger_ids they consume."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from tests.harness.slack_emulator.model import (
    APP_ID,
    BOT_ID,
    JSON,
    TRIGGER_TTL,
    SlackError,
    _invalid_arguments,
)
from tests.harness.slack_emulator.state import EmulatorState


class ViewsMethods(EmulatorState):
    """The views.* methods."""

    def new_trigger_id(self, user_id: str | None = None) -> str:
        """Register a trigger_id issued now (by the emulator clock)."""
        with self._lock:
            n = next(self._seq)
            trigger = f"{n}.{int(self.clock())}.{secrets.token_hex(16)}"
            self._triggers[trigger] = {"created": self.clock(), "user": user_id, "used": False}
        return trigger

    def home_view(self, user_id: str) -> JSON | None:
        with self._lock:
            vid = self._home_views.get(user_id)
            return copy.deepcopy(self._views[vid]) if vid else None

    def view(self, view_id: str) -> JSON | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def open_views(self, user_id: str) -> list[JSON]:
        """The user's modal stack (root first)."""
        with self._lock:
            return [copy.deepcopy(self._views[v]) for v in self._modal_stacks.get(user_id, [])]

    def _parse_view(self, raw: Any, allowed: tuple[str, ...]) -> JSON:
        if raw is None or raw == "":
            raise _invalid_arguments("[ERROR] missing required field: view")
        if not isinstance(raw, dict):
            raise _invalid_arguments("[ERROR] failed to parse view: must be a JSON object")
        errors: list[str] = []
        kind = raw.get("type")
        if kind not in allowed:
            errors.append(f"[ERROR] must be one of {list(allowed)} [json-pointer:/view/type]")
        for key in ("title", "submit", "close"):
            value = raw.get(key)
            if value is None:
                if key == "title" and kind == "modal":
                    errors.append("[ERROR] missing required field: title [json-pointer:/view]")
                continue
            if not isinstance(value, dict) or value.get("type") != "plain_text":
                errors.append(f"[ERROR] must be a plain_text object [json-pointer:/view/{key}]")
            elif len(str(value.get("text", ""))) > 24:
                errors.append(f"[ERROR] must be less than 25 characters [json-pointer:/view/{key}]")
        blocks = raw.get("blocks")
        if not isinstance(blocks, list):
            errors.append("[ERROR] missing required field: blocks [json-pointer:/view]")
        else:
            errors.extend(self._block_errors(blocks, limit=100, pointer="/view/blocks"))
            has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
            if kind == "modal" and has_input and raw.get("submit") is None:
                errors.append(
                    "[ERROR] must provide a submit button when using input blocks "
                    "[json-pointer:/view/submit]"
                )
        for key, cap in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
            if len(str(raw.get(key) or "")) > cap:
                errors.append(
                    f"[ERROR] must be less than {cap + 1} characters [json-pointer:/view/{key}]"
                )
        if errors:
            raise _invalid_arguments(*errors)
        return raw

    def _exchange_trigger(self, a: JSON) -> JSON:
        trigger_id = a.get("trigger_id") or a.get("interactivity_pointer")
        if not trigger_id:
            raise _invalid_arguments("[ERROR] missing required field: trigger_id")
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger["used"]:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger["created"] > TRIGGER_TTL:
            raise SlackError("expired_trigger_id")
        return trigger

    def _make_view(
        self,
        spec: JSON,
        *,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> JSON:
        vid = view_id or self._new_id("V")
        external_id = str(spec.get("external_id") or "")
        if external_id:
            owner = self._external_ids.get(external_id)
            if owner is not None and owner != vid:
                raise SlackError("duplicate_external_id")
            self._external_ids[external_id] = vid
        view: JSON = {
            "id": vid,
            "team_id": self.team_id,
            "type": spec["type"],
            "title": copy.deepcopy(spec.get("title")),
            "blocks": copy.deepcopy(spec.get("blocks", [])),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "private_metadata": str(spec.get("private_metadata") or ""),
            "callback_id": str(spec.get("callback_id") or ""),
            "external_id": external_id,
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "root_view_id": root_view_id or vid,
            "previous_view_id": previous_view_id,
            "app_id": APP_ID,
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        self._views[vid] = view
        return view

    def _views_open(self, a: JSON) -> JSON:
        trigger = self._exchange_trigger(a)
        spec = self._parse_view(a.get("view"), ("modal",))
        view = self._make_view(spec)
        trigger["used"] = True
        user = trigger.get("user") or ""
        self._view_users[view["id"]] = user
        self._modal_stacks[user] = [view["id"]]
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_push(self, a: JSON) -> JSON:
        trigger = self._exchange_trigger(a)
        spec = self._parse_view(a.get("view"), ("modal",))
        user = trigger.get("user") or ""
        stack = self._modal_stacks.setdefault(user, [])
        if len(stack) >= 3:
            raise SlackError("push_limit_reached")
        previous = stack[-1] if stack else None
        root = stack[0] if stack else None
        view = self._make_view(spec, root_view_id=root, previous_view_id=previous)
        trigger["used"] = True
        self._view_users[view["id"]] = user
        stack.append(view["id"])
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, a: JSON) -> JSON:
        view_id = a.get("view_id")
        external_id = a.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("[ERROR] either view_id or external_id is required")
        vid = str(view_id) if view_id else self._external_ids.get(str(external_id), "")
        current = self._views.get(vid)
        if current is None:
            raise SlackError("not_found")
        spec = self._parse_view(a.get("view"), (current["type"],))
        if a.get("hash") and a["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._make_view(
            spec,
            view_id=vid,
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_publish(self, a: JSON) -> JSON:
        user_id = str(a.get("user_id") or "")
        if not user_id:
            raise _invalid_arguments("[ERROR] missing required field: user_id")
        if user_id not in self._users:
            raise SlackError("user_not_found")
        spec = self._parse_view(a.get("view"), ("home",))
        current_id = self._home_views.get(user_id)
        if current_id and a.get("hash") and a["hash"] != self._views[current_id]["hash"]:
            raise SlackError("hash_conflict")
        view = self._make_view(spec, view_id=current_id)
        self._home_views[user_id] = view["id"]
        self._view_users[view["id"]] = user_id
        return {"ok": True, "view": copy.deepcopy(view)}
