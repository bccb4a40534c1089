"""The /hotfix command tree. Importing this package registers every command."""

from handlers.core.commands import ChatGroup

ROOT = ChatGroup(
    "hotfix",
    help="Incident response and hotfix deploys from Slack.",
)

# Command modules register themselves on ROOT when imported.
from handlers.audit import commands as audit  # noqa: E402, F401
from handlers.deploy import buttons, canary_buttons, controls, status  # noqa: E402, F401  (registers the buttons)  # noqa: E402, F401
from handlers.deploy import commands as deploy  # noqa: E402, F401
from handlers.help import commands as help  # noqa: E402, F401
from handlers.hotfix import commands as hotfix  # noqa: E402, F401
from handlers.incident import buttons as incident_buttons  # noqa: E402, F401
from handlers.incident import commands as incident  # noqa: E402, F401
from handlers.incident import page, publish, timeline  # noqa: E402, F401

__all__ = ["ROOT"]
