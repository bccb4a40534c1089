"""Events: a 📌 on a war-room message puts it on the timeline."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from handlers.core.context import Deps
from services.incidents import lifecycle, records

PIN_REACTIONS = {"pushpin", "round_pushpin"}


def register(app: App, *, deps: Deps) -> None:
    @app.event("reaction_added")
    def on_reaction(event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if event.get("reaction") not in PIN_REACTIONS or item.get("type") != "message":
            return
        channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        actor = str(event.get("user", ""))
        incident = records.by_channel(deps.store, channel) if channel else None
        if incident is None or not ts:
            return
        deps.worker.submit(
            lambda: lifecycle.pin_message(
                incident, deps=deps.war_room, actor=actor, channel_id=channel, ts=ts
            ),
            describe=f"pin {channel}/{ts}",
        )
