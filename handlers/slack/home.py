"""The App Home tab."""

from __future__ import annotations

import logging
from typing import Any

import click
from slack_bolt import App
from slack_sdk import WebClient

from handlers.core.commands import leaf_commands
from handlers.core.context import Deps
from handlers.core.router import Router, describe
from services.incidents import records
from services.incidents.presenting import incident_data

log = logging.getLogger(__name__)


def register(app: App, *, deps: Deps, router: Router) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        root_ctx = click.Context(router.root, info_name=router.prog)
        commands = [
            describe(click.Context(leaf, info_name=" ".join(path), parent=root_ctx))
            for path, leaf in leaf_commands(router.root)
        ]
        now = deps.clock.now()
        incidents = [incident_data(i, now=now) for i in records.open_incidents(deps.store)]
        view = deps.renderer.render_data(
            "home", {"prog": router.prog, "commands": commands, "incidents": incidents}
        )
        user = event["user"]
        deps.worker.submit(
            lambda: client.views_publish(user_id=user, view=view), describe=f"home tab for {user}"
        )
