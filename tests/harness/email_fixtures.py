"""The bot's parts with email configured against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.console import Console
from bot.wiring import build_deps, build_router, close_deps
from handlers.console.chat import ConsoleChat
from handlers.core.context import Deps
from services.clock import ManualClock
from services.comms import deliveries
from services.settings import Settings
from tests.harness.smtp_server import Received, SmtpServer

EXECS = ["ceo@example.com", "cto@example.com"]
CUSTOMERS = ["ops@customer-one.test", "it@customer-two.test"]
SUPPORT = ["support@example.com"]


def email_settings(port: int, **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "starttls": False,
        "from": "incidents@example.com",
        "timeout_seconds": 10,
        "audiences": {
            "execs": {"to": EXECS, "messages": "executive"},
            "customers": {"to": CUSTOMERS, "messages": "customer"},
            "support": {"to": SUPPORT, "messages": "internal"},
        },
        "severities": {
            "sev1": {
                "declared": ["execs", "support", "customers"],
                "broadcast": ["execs", "customers"],
                "resolved": ["execs", "support", "customers"],
            },
            "sev2": {"declared": ["support"]},
        },
    }
    section.update(overrides)
    return section


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def email_section(smtp: SmtpServer) -> dict[str, Any]:
    return email_settings(smtp.port)


@pytest.fixture
def email_bot_settings(tmp_path: Path, email_section: dict[str, Any]) -> dict[str, Any]:
    return {"store": {"path": str(tmp_path / "bot.db")}, "email": email_section}


@pytest.fixture
def edeps(
    email_bot_settings: dict[str, Any], clock: ManualClock, printed: io.StringIO
) -> Iterator[Deps]:
    built = build_deps(
        Settings.model_validate(email_bot_settings),
        clock=clock,
        chat=lambda renderer, _store, _clock: ConsoleChat(renderer, out=printed),
    )
    yield built
    close_deps(built)


def console(deps: Deps, name: str = "alice") -> Console:
    return Console(deps, build_router(deps.settings), actor=f"console:{name}")


def wait_for(deps: Deps, condition: Callable[[], bool], what: str) -> None:
    """Drain (when this process delivers) until `condition` holds; generous deadline."""
    deadline = time.monotonic() + 60
    while True:
        deps.comms.drain()
        if condition():
            return
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def settle(deps: Deps, smtp: SmtpServer, count: int) -> list[Received]:
    """Drain until `count` mails arrived and nothing is left to send."""
    wait_for(
        deps,
        lambda: deliveries.depth(deps.store) == 0 and len(smtp.messages()) >= count,
        f"{count} mails",
    )
    return smtp.messages()
