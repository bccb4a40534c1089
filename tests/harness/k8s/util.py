"""Small helpers shared by the API families: timestamps, hashes, percentages."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from typing import Any


def timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


SAFE = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(text: str) -> str:
    return "".join(SAFE[ord(c) % len(SAFE)] for c in text)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def resolve_percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total
        return -(-scaled // 100) if round_up else scaled // 100
    return int(value)


def omit_zero(status: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    for key in keys:
        if not status.get(key):
            status.pop(key, None)
    return status
