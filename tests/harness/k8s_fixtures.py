"""The `k8s` fixture: a Kubernetes API emulator whose every request must fit the real API.

Registered for the whole suite by tests/conftest.py. A test module that needs objects in the
cluster overrides it with a fixture of the same name that asks for this one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.k8s_openapi import load_spec, spec_path, validate_requests


@pytest.fixture
def k8s() -> Iterator[K8sEmulator]:
    """The emulator; after the test, every request it received must fit the OpenAPI spec,
    and every body the bot sent must say its Content-Type."""
    spec = load_spec()
    if spec is None:
        warnings.warn(
            f"the Kubernetes OpenAPI spec is absent ({spec_path()}): requests not validated",
            stacklevel=1,
        )
    with K8sEmulator() as emu:
        yield emu
        untyped = untyped_writes(emu)
        assert not untyped, (
            "hotfix-bot sent a body without saying its Content-Type (the API server would"
            " guess application/json):\n" + "\n".join(untyped)
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
