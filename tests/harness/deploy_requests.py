"""A deployment request as the terminal files it, for tests that drive the engine directly."""

from __future__ import annotations

from typing import Any

from services.deploy.approvals import DeployRequest
from services.deploy.model import Kind


def console_deploy(version: str = "v2.1.1", **changes: Any) -> DeployRequest:
    """payments to production, requested by console:alice from C0WAR, outside any incident."""
    fields: dict[str, Any] = {
        "kind": Kind.DEPLOY,
        "service": "payments",
        "environment": "production",
        "version": version,
        "strategy": "canary",
        "verify": True,
        "notify_stakeholders": False,
        "immediate": False,
        "requested_by": "console:alice",
        "channel_id": "C0WAR",
        "incident": None,
        "request_key": None,
        **changes,
    }
    return DeployRequest(**fields)
