"""The `k8s` fixture: a Kubernetes API emulator whose every request must fit the real API.

Registered for the whole suite by tests/conftest.py. A test module that needs objects in the
cluster overrides it with a fixture of the same name that asks for this one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from tests.harness.k8s_emulator import SESSION_REQUESTS, K8sEmulator
from tests.harness.k8s_openapi import load_spec, spec_path, validate_requests
from tests.harness.rbac import refused


@pytest.fixture
def k8s() -> Iterator[K8sEmulator]:
    """The emulator; after the test, every request it received must fit the OpenAPI spec,
    every body the bot sent must say its Content-Type, and the bot's Role must allow each of
    the bot's requests (tests/harness/rbac.py)."""
    spec = load_spec()
    if spec is None:
        warnings.warn(
            f"the Kubernetes OpenAPI spec is absent ({spec_path()}): requests not validated",
            stacklevel=1,
        )
    first = len(SESSION_REQUESTS)
    with K8sEmulator() as emu:
        yield emu
        untyped = untyped_writes(emu)
        assert not untyped, (
            "hotfix-bot sent a body without saying its Content-Type (the API server would"
            " guess application/json):\n" + "\n".join(untyped)
        )
        # Every emulator's requests during the test, those a clear_requests() dropped too.
        not_allowed = refused(SESSION_REQUESTS[first:])
        assert not not_allowed, (
            "hotfix-bot made calls its Role (deploy/rbac.yaml, deploy/lease-rbac.yaml) does"
            " not allow:\n" + "\n".join(not_allowed)
        )
        if spec is not None:
            problems = validate_requests(spec, emu.requests)
            assert not problems, "requests that do not fit the Kubernetes API:\n" + "\n".join(
                problems
            )


def untyped_writes(emu: K8sEmulator) -> list[str]:
    """The bot's requests that carry a body but no Content-Type.

    The API server takes an absent type for application/json (and refuses a wrong one with
    415), so only this check sees it; the generated client omits it on create and replace.
    """
    return [
        f"{r.method} {r.path}"
        for r in emu.requests
        if r.method in ("POST", "PUT", "PATCH")
        and r.body is not None
        and not r.content_type
        and (r.user_agent or "").startswith("hotfix-bot/")
    ]
