"""coordination.k8s.io/v1 Leases: MicroTime parsing and ValidateLeaseSpec."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
from typing import Any

from tests.harness.k8s.errors import ApiError
from tests.harness.k8s.resources import ResourceType

_MICRO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$"
)


def micro_time(rt: ResourceType, value: Any) -> str:
    """A ``metav1.MicroTime`` as the API server decodes and re-encodes it.

    It parses with Go's layout ``2006-01-02T15:04:05.000000Z07:00`` - exactly six fractional
    digits: RFC 3339 without them is a 400 - and answers in UTC with ``Z``.
    """
    layout = "2006-01-02T15:04:05.000000Z07:00"
    parsed = None
    if isinstance(value, str) and _MICRO_TIME.match(value):
        with contextlib.suppress(ValueError):
            parsed = datetime.datetime.fromisoformat(value)
    if parsed is None:
        raise ApiError(
            400,
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: parsing time'
            f" {json.dumps(value)} as {json.dumps(layout)}: cannot parse it as {json.dumps(layout)}",
            reason="BadRequest",
        )
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def validate_lease(spec: Any) -> list[tuple[str, str]]:
    """ValidateLeaseSpec."""
    if spec is None:
        return []
    if not isinstance(spec, dict):
        return [("spec", "Invalid value: must be an object")]
    errors: list[tuple[str, str]] = []
    for key in ("leaseDurationSeconds", "leaseTransitions"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append((f"spec.{key}", "Invalid value: must be an integer"))
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        errors.append(
            ("spec.leaseDurationSeconds", f"Invalid value: {duration}: must be greater than 0")
        )
    transitions = spec.get("leaseTransitions")
    if isinstance(transitions, int) and transitions < 0:
        errors.append(
            (
                "spec.leaseTransitions",
                f"Invalid value: {transitions}: must be greater than or equal to 0",
            )
        )
    holder = spec.get("holderIdentity")
    if holder is not None and not isinstance(holder, str):
        errors.append(("spec.holderIdentity", "Invalid value: must be a string"))
    if spec.get("preferredHolder") and not spec.get("strategy"):
        errors.append(
            (
                "spec.preferredHolder",
                "Forbidden: may only be specified if `strategy` is defined",
            )
        )
    return errors
