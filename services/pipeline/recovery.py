"""At start-up: validate and verify runs the old process died under.

records.interrupt_running marks every run still `running` interrupted (it never passed;
a timeline row says so); each card is then edited once so that nobody keeps watching a
"running" card: a validation's says to run it again, a verification's also says, when
--auto-rollback was armed, that no rollback ran and which command to run.
"""

from __future__ import annotations

from services.chat import Chat
from services.clock import Clock
from services.pipeline import records, validate_card, verify_card
from services.pipeline.records import RunKind
from services.store import Store


def recover_after_restart(store: Store, *, clock: Clock, chat: Chat) -> list[str]:
    """The ids of the runs found running, now interrupted, each card edited to say so."""
    stopped = records.interrupt_running(store, clock=clock)
    for found in stopped:
        if found.kind is RunKind.VALIDATE:
            validate_card.post_or_update(store, found, chat=chat)
        else:
            verify_card.show_with(store, chat, found, clock=clock)
    return [found.id for found in stopped]
