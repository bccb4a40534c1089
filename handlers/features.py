"""The features, and the one place that builds the registry from them.

Each feature package has a `register(registry)` that adds its commands, buttons and
forms (the layout of slack-samples/bolt-python-starter-template's `register(app)`).
The composition root (bot.wiring) calls `build_registry()`; importing registers nothing.
"""

from __future__ import annotations

from handlers import audit, deploy, hotfix, incident, pipeline
from handlers import help as help_feature
from handlers.core.commands import ChatGroup
from handlers.core.registry import Registry

FEATURES = (incident, deploy, hotfix, pipeline, audit, help_feature)


def build_registry() -> Registry:
    registry = Registry(
        ChatGroup("hotfix", help="Incident response and hotfix deploys from Slack.")
    )
    for feature in FEATURES:
        feature.register(registry)
    return registry
