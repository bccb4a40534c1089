"""The Kubernetes API emulator's public names (the emulator itself lives in ``tests.harness.k8s``)."""

from tests.harness.k8s.apps import MODES
from tests.harness.k8s.emulator import K8sEmulator
from tests.harness.k8s.errors import ApiError
from tests.harness.k8s.labels import label_selector_matches, parse_label_selector
from tests.harness.k8s.patches import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from tests.harness.k8s.records import SESSION_REQUESTS, RecordedRequest
from tests.harness.k8s.resources import ResourceType

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH",
    "MODES",
    "SESSION_REQUESTS",
    "STRATEGIC_MERGE_PATCH",
    "ApiError",
    "K8sEmulator",
    "RecordedRequest",
    "ResourceType",
    "json_patch",
    "label_selector_matches",
    "merge_patch",
    "parse_label_selector",
    "strategic_merge_patch",
]
