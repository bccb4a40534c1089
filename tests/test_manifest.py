"""manifest.yml: valid for Slack, and asking for exactly the scopes the bot uses."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator
from slack_sdk import WebClient

from tests.harness.slack_scopes import METHOD_SCOPES

from .conftest import REPO_ROOT

pytestmark = [pytest.mark.unit, pytest.mark.slow]

MANIFEST = yaml.safe_load((REPO_ROOT / "manifest.yml").read_text())
SPECS = REPO_ROOT.parent / "shared" / "specs"
BOT_SOURCES = [p for d in ("bot", "handlers") for p in (REPO_ROOT / d).rglob("*.py")]


def web_api_methods() -> dict[str, set[str]]:
    """slack_sdk's WebClient method name -> the Web API methods it calls.

    Most wrappers call `api_call("chat.postMessage", …)`; a few (files_upload_v2)
    call other wrappers, which are followed.
    """
    tree = ast.parse(inspect.getsource(WebClient))
    direct: dict[str, str] = {}
    calls_other: dict[str, set[str]] = {}
    for node in tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []:
        if not isinstance(node, ast.FunctionDef):
            continue
        for call in ast.walk(node):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            if (
                call.func.attr == "api_call"
                and call.args
                and isinstance(call.args[0], ast.Constant)
            ):
                direct[node.name] = str(call.args[0].value)
                break
            if isinstance(call.func.value, ast.Name) and call.func.value.id == "self":
                calls_other.setdefault(node.name, set()).add(call.func.attr)

    def resolve(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if name in direct:
            return {direct[name]}
        found: set[str] = set()
        for other in calls_other.get(name, set()) - seen:
            found |= resolve(other, seen | {name})
        return found

    names = set(direct) | set(calls_other)
    return {name: methods for name in names if (methods := resolve(name))}


# Events need a scope of their own to be delivered.
EVENT_SCOPES = {"app_home_opened": set(), "reaction_added": {"reactions:read"}}


# Called with the app-level token (SLACK_APP_TOKEN), whose scope is granted where that token
# is generated (Basic Information → App-Level Tokens), not in the manifest's bot scopes.
APP_TOKEN_METHODS = {"apps.connections.open": "connections:write"}


def methods_called_in_sources() -> set[str]:
    names = web_api_methods()
    called: set[str] = set()
    for path in BOT_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in names:
                called |= names[node.attr]
    return called


def methods_the_bot_calls() -> set[str]:
    """The Web API methods called with the bot token."""
    return methods_called_in_sources() - set(APP_TOKEN_METHODS)


def events_the_bot_listens_to() -> set[str]:
    events: set[str] = set()
    for path in BOT_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "event"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                events.add(str(node.args[0].value))
    return events


def test_manifest_validates_against_slacks_schema() -> None:
    schema_file = (
        SPECS / f"slack-app-manifest.schema.{MANIFEST['_metadata']['major_version']}.0.0.json"
    )
    if not schema_file.exists():
        pytest.skip(f"Slack's manifest schema is not at {schema_file} (it is in CI)")
    schema = json.loads(schema_file.read_text())
    errors = sorted(Draft7Validator(schema).iter_errors(MANIFEST), key=str)
    assert errors == [], "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_manifest_declares_what_the_bot_needs() -> None:
    features = MANIFEST["features"]
    (command,) = features["slash_commands"]
    assert command["command"] == "/hotfix"
    assert command["should_escape"] is True  # mentions arrive as <@U…|name>
    assert command["usage_hint"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["bot_user"]["display_name"] == "hotfix-bot"
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True


def test_every_called_method_is_covered_by_a_listed_scope() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    called = methods_the_bot_calls()
    assert "views.publish" in called  # the scan sees the bot's calls
    uncovered = {
        m: sorted(METHOD_SCOPES[m])
        for m in called
        if METHOD_SCOPES[m] and not scopes & METHOD_SCOPES[m]
    }
    assert uncovered == {}, f"add one scope for each of these methods to manifest.yml: {uncovered}"


def test_no_scope_is_listed_that_the_bot_does_not_use() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    needed = {"commands"} if MANIFEST["features"].get("slash_commands") else set()
    for event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]:
        needed |= EVENT_SCOPES[event]
    for method in methods_the_bot_calls():
        needed |= METHOD_SCOPES[method]
    assert scopes - needed == set(), "scopes the bot never uses; remove them from manifest.yml"


def test_bot_events_match_the_listeners() -> None:
    assert (
        set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
        == events_the_bot_listens_to()
    )


def test_only_the_socket_mode_connection_uses_the_app_token() -> None:
    called = methods_called_in_sources()
    assert set(APP_TOKEN_METHODS) <= called
    assert "connections:write" in (REPO_ROOT / "README.md").read_text()


def test_every_method_the_bot_calls_is_emulated() -> None:
    assert methods_the_bot_calls() <= set(METHOD_SCOPES)


def test_sources_are_found() -> None:
    assert any(p.name == "home.py" for p in BOT_SOURCES)
    assert all(isinstance(p, Path) for p in BOT_SOURCES)
