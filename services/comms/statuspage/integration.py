"""Builds the statuspage integration when hotfix.yml configures it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.comms.registry import BuildContext, Integration


def build(context: BuildContext) -> Integration | None:
    return None  # not built yet
