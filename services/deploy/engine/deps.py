"""What every part of the engine works with: its dependencies, the environment, the thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from services import timeline
from services.chat import Chat, ChatError, Message
from services.clock import Clock
from services.deploy.backend import Backend, DeployContext
from services.deploy.model import Deployment
from services.deploy.settings import EnvironmentSettings
from services.errors import UserFacingError
from services.settings import Settings
from services.store import Store

log = logging.getLogger(__name__)
BOT = timeline.BOT_ACTOR

BackendFactory = Callable[[Deployment, EnvironmentSettings, DeployContext], Backend]


@dataclass(frozen=True)
class DeployDeps:
    settings: Settings
    store: Store
    clock: Clock
    chat: Chat
    backend_for: BackendFactory


def environment_of(settings: Settings, deployment: Deployment) -> EnvironmentSettings:
    service = settings.services.get(deployment.service)
    env = service.environments.get(deployment.environment) if service else None
    if env is None:
        raise UserFacingError(
            f"{deployment.target} is no longer in the configuration.",
            hint="Restore it in the config file, or roll back by hand.",
        )
    return env


def tell(deps: DeployDeps, deployment: Deployment, message: Message) -> None:
    """Post in the card's thread; with no channel, send it to the requester directly."""
    try:
        if deployment.channel_id is not None:
            deps.chat.post(deployment.channel_id, message, thread_ts=deployment.card_ts)
        else:
            deps.chat.direct_message(deployment.requested_by, message)
    except ChatError as exc:
        log.warning("%s: could not tell %s: %s", deployment.id, message.template, exc.error)
