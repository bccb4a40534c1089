"""The annotated example shows every configuration form, and what it shows is valid.

The settings models are walked, so a field added to any section without a line in
hotfix.example.yml fails here, not in front of a newcomer.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bot.config import EXAMPLE_CONFIG
from services.deploy import registry
from services.deploy.settings import EnvironmentSettings
from services.settings import Settings
from tests.harness.cli import run_cli

pytestmark = pytest.mark.e2e


def models_and_fields(
    model: type[BaseModel], path: str = "", seen: set[type[BaseModel]] | None = None
) -> list[tuple[str, str]]:
    """(dotted path, field name) of every field of every section reachable from `model`."""
    seen = set() if seen is None else seen
    if model in seen:
        return []
    seen.add(model)
    found: list[tuple[str, str]] = []
    if model is EnvironmentSettings:
        # Each backend's section is its own package's model, found through the registry.
        for backend_type in registry.BACKENDS.values():
            found.append((f"{path}{backend_type.name}", backend_type.name))
            found += models_and_fields(
                backend_type.settings_model, f"{path}{backend_type.name}.", seen
            )
    for name, field in model.model_fields.items():
        if field.exclude:
            continue  # kept by the model, never written in the file (backend_sections)
        found.append((f"{path}{name}", field.alias or name))  # as the file spells it
        for inner in _models_in(field.annotation):
            found += models_and_fields(inner, f"{path}{name}.", seen)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (list, tuple, dict, types.UnionType, typing.Union):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def example_text() -> str:
    return EXAMPLE_CONFIG.read_text(encoding="utf-8")


def uncommented_services(text: str) -> dict[str, Any]:
    """The commented `services:` sample, one comment level removed, as YAML data."""
    lines = text.splitlines()
    start = lines.index("services: {}")
    sample = ["services:"]
    for line in lines[start + 1 :]:
        if not line.startswith("#"):
            break
        sample.append(line[1:])
    data = yaml.safe_load("\n".join(sample))
    assert isinstance(data, dict)
    return data


def nested(node: Any, parts: list[str]) -> bool:
    """Do the keys `parts` appear nested in this order (named levels such as a service's
    or an environment's name, and list items, in between)?"""
    if not parts:
        return True
    if isinstance(node, dict):
        if parts[0] in node and nested(node[parts[0]], parts[1:]):
            return True
        return any(nested(value, parts) for value in node.values())
    if isinstance(node, list):
        return any(nested(item, parts) for item in node)
    return False


def test_every_settings_field_is_shown_in_the_example() -> None:
    text = example_text()
    services = uncommented_services(text)
    missing = []
    for dotted, name in models_and_fields(Settings):
        if dotted.startswith("services."):
            # The service sample is checked as data: each key where it belongs.
            if not nested(services, dotted.split(".")):
                missing.append(dotted)
        elif not re.search(rf"(^|[\s{{,#]){re.escape(name)}:", text, re.MULTILINE):
            missing.append(dotted)
    assert not missing, f"not shown in {EXAMPLE_CONFIG.name}: {missing}"


def test_the_walk_reaches_the_deep_sections() -> None:
    dotted = {d for d, _ in models_and_fields(Settings)}
    for expected in (
        "services.git.repository",
        "services.environments.backup",
        "services.environments.kubernetes.canary.analysis.queries",
        "incidents.severities.playbook.items",
        "lock.lease.renew_seconds",
    ):
        assert expected in dotted


def test_the_example_passes_check_config(tmp_path: Path) -> None:
    result = run_cli("--config", str(EXAMPLE_CONFIG), "check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{EXAMPLE_CONFIG}: valid" in result.stdout


def test_the_commented_service_sample_is_valid_configuration() -> None:
    services = uncommented_services(example_text())
    settings = Settings.model_validate(services)
    payments = settings.services["payments"]
    assert payments.git is not None
    production = payments.environments["production"]
    assert production.backup and production.checks and production.health_checks
    assert production.target is not None and production.target.canary is not None
    preview = payments.environments["preview"].target
    assert preview is not None and preview.blue_green is not None
