"""A bot process that delivers the queued email and dies at a checkpoint (the crash test).

    python -m tests.harness.email_sender SETTINGS_JSON CRASH_AT

Builds the email integration from the settings (a real store file, the test's SMTP
server), drains the queue with the real dispatcher, and exits with code 17 right after
the checkpoint named CRASH_AT is committed, the way a killed bot stops: no cleanup, the
SMTP connection dropped by the kernel.
"""

from __future__ import annotations

import json
import os
import sys

from handlers.core.rendering import Renderer
from services.clock import SystemClock
from services.comms.deliveries import Delivery
from services.comms.dispatcher import Channel, Checkpoint, Dispatcher, Sent
from services.comms.registry import BuildContext
from services.settings import Settings
from services.store import Store

CRASHED = 17


class Dying:
    """The real channel, with checkpoints that end the process once `crash_at` is stored."""

    def __init__(self, channel: Channel, crash_at: str) -> None:
        self.channel = channel
        self.name = channel.name
        self.crash_at = crash_at

    def deliver(self, delivery: Delivery, *, resuming: bool, checkpoint: Checkpoint) -> Sent:
        def dying(mark: str) -> None:
            checkpoint(mark)
            if mark == self.crash_at:
                os._exit(CRASHED)

        return self.channel.deliver(delivery, resuming=resuming, checkpoint=dying)


def main() -> None:
    settings = Settings.model_validate(json.loads(sys.argv[1]))
    crash_at = sys.argv[2]
    store = Store(settings.store.path)
    clock = SystemClock()
    from services.comms.email.integration import build

    context = BuildContext(
        settings=settings, store=store, clock=clock, templates=Renderer(), environ=os.environ
    )
    integration = build(context)
    assert integration is not None
    channel = Dying(integration.channel, crash_at)
    Dispatcher(store=store, clock=clock, channels={channel.name: channel}).drain()


if __name__ == "__main__":
    main()
