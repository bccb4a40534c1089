"""The state every part of the emulator shares; the mixins that make up ``K8sEmulator`` read
and write it under ``_lock``, which every HTTP request and test-side call holds."""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.harness.k8s.apps import Script
    from tests.harness.k8s.records import Failure, RecordedRequest
    from tests.harness.k8s.resources import ResourceType


class EmulatorState:
    default_mode: str
    _lock: threading.RLock
    _objects: dict[tuple[ResourceType, str, str], dict[str, Any]]
    _rv: int
    _requests: list[RecordedRequest]
    _failures: list[Failure]
    _scripts: dict[tuple[str, str], Script]
    _ips: itertools.count[int]
    _pod_ids: itertools.count[int]
    _pod_order: dict[tuple[str, str], int]
    _proven: set[str]
    errors: list[str]
    pruned: list[str]
