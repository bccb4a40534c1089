"""Bolt listeners: thin adapters from Slack payloads to the router and actions."""

from __future__ import annotations

from slack_bolt import App

from handlers.core.context import Deps
from handlers.core.router import Router
from handlers.slack import actions, commands, events, home, views, well_formed, workspace_guard


def register_listeners(app: App, *, deps: Deps, router: Router) -> None:
    well_formed.register(app)
    workspace_guard.register(app, deps=deps)
    commands.register(app, deps=deps, router=router)
    actions.register(app, deps=deps, buttons=router.buttons)
    home.register(app, deps=deps, router=router)
    views.register(app, deps=deps, forms=router.forms)
    events.register(app, deps=deps)
