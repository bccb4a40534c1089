"""A planner turns one piece of incident news into the deliveries its integration owes."""

from __future__ import annotations

from typing import Protocol

from services.comms.deliveries import Outgoing
from services.comms.news import IncidentNews


class Planner(Protocol):
    def plan(self, news: IncidentNews) -> list[Outgoing]:
        """The deliveries owed for `news` (none: nothing to say to this integration)."""
        ...
