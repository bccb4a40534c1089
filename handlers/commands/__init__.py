"""The /hotfix command tree. Importing this package registers every command."""

from handlers.commands.registry import ChatGroup

ROOT = ChatGroup(
    "hotfix",
    help="Incident response and hotfix deploys from Slack.",
)

# Command modules register themselves on ROOT when imported.
from handlers import (  # noqa: E402, F401  (registers the buttons)
    canary_actions,
    deploy_actions,
    incident_actions,
    publish_actions,
)
from handlers.commands import (  # noqa: E402, F401
    audit,
    deploy,
    deploy_controls,
    deploy_views,
    help,
    hotfix,
    incident,
    page,
    timeline,
)

__all__ = ["ROOT"]
