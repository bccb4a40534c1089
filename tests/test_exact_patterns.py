"""Every pattern check is a full match: a trailing newline (or any extra text) is refused.

Python's ``$`` also matches before a final newline, so ``re.match(r"^v[0-9]+$")``
accepts ``"v1\\n"``. The project checks with ``fullmatch`` and no anchors; a
scan of the source keeps it that way. Pydantic's ``pattern=`` runs on Rust's
regex engine, where ``$`` is the end of the text: the config tests pin that.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import click
import pytest
from pydantic import ValidationError

from handlers.core.params import SLACK_CHANNEL, SLACK_USER
from handlers.core.rendering import mention
from services.deploy.analysis.run import AnalysisConfigError, QueryContext, render_query
from services.errors import UserFacingError
from services.git.errors import InvalidInputError
from services.git.settings import RepositorySettings
from services.git.validation import validate_issue_key
from services.incidents.model import parse_incident_id
from services.incidents.responders import is_slack_user
from services.kube.images import image_problems
from services.settings import Settings
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
RE_FUNCTIONS = {"compile", "match", "search", "fullmatch", "sub", "split", "findall", "finditer"}


def anchored_patterns() -> list[str]:
    """`re` patterns in the project's code that rely on ^ or $ without re.MULTILINE."""
    found = []
    for package in ("bot", "handlers", "services"):
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "re"
                    and node.func.attr in RE_FUNCTIONS
                    and node.args
                ):
                    continue
                pattern = _literal(node.args[0])
                flags = ast.unparse(node)
                if pattern is None or "MULTILINE" in flags or "re.M" in flags:
                    continue
                if pattern.startswith("^") or re.search(r"(?<!\\)\$$", pattern):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {pattern}")
    return found


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its constant parts
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    return None


def test_no_python_pattern_relies_on_anchors() -> None:
    assert anchored_patterns() == []


# -- each entry point ----------------------------------------------------------


@pytest.mark.parametrize("value", ["<@U0ALICE>\nx", "U0ALICE\nx", "U0ALICE x", "<@U0ALICE>>"])
def test_user_mentions_are_exact(value: str) -> None:
    with pytest.raises(click.BadParameter):
        SLACK_USER.convert(value, None, None)
    # Surrounding blanks are not part of the value: stripped, never passed on.
    assert SLACK_USER.convert(" <@U0ALICE|alice>\n", None, None) == "U0ALICE"


@pytest.mark.parametrize("value", ["<#C0GENERAL>\nx", "C0GENERAL\nx", "C0GENERAL x"])
def test_channel_mentions_are_exact(value: str) -> None:
    with pytest.raises(click.BadParameter):
        SLACK_CHANNEL.convert(value, None, None)


def test_a_user_id_with_a_newline_is_not_a_user() -> None:
    assert not is_slack_user("U0ALICE\n")
    assert mention("U0ALICE\n") != "<@U0ALICE\n>"


@pytest.mark.parametrize("value", ["INC-1\nINC-2", "INC-١٢", "INC-1 x"])
def test_incident_ids_are_exact(value: str) -> None:
    with pytest.raises(UserFacingError):
        parse_incident_id(value)


@pytest.mark.parametrize("tag", ["v1.0.9\n", "v1\nlatest", "v1.0.9 "])
def test_image_tags_are_exact(tag: str) -> None:
    assert image_problems("registry.example.com/team/payments", tag, setting="kubernetes.image")
    assert image_problems("registry.example.com/payments\n", "v1", setting="kubernetes.image")


def test_analysis_placeholders_take_exact_values() -> None:
    with pytest.raises(AnalysisConfigError):
        render_query('up{service="{service}"}', QueryContext(service="payments\n"))


@pytest.mark.parametrize("key", ["PROD-12\nPROD-13", "PROD-١٢", "PROD-12 x"])
@pytest.mark.parametrize(
    "pattern",
    [RepositorySettings.model_fields["issue_key_pattern"].default, r"[A-Z]+-\d+"],
    ids=["default", "configured"],
)
def test_issue_keys_are_exact(key: str, pattern: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_issue_key(key, pattern)


@pytest.mark.parametrize(
    "section",
    [
        {"slack": {"team_id": "T0TEAM\n"}},
        {"slack": {"command": "/hotfix\n"}},
        {"incidents": {"channel_prefix": "inc\n"}},
        {"incidents": {"announcement_channel": "C0INCIDENTS\n"}},
        {"access": {"deployers": ["U0ALICE\n"]}},
        {"access": {"deployers": ["U0ALICE\nU0MALLORY"]}},
        {
            "services": {
                "payments": {
                    "environments": {
                        "production": {
                            "backend": "command",
                            "command": {"deploy": ["true"]},
                            "health_checks": [{"url": "https://ok.example\nhttps://evil"}],
                        }
                    }
                }
            }
        },
    ],
)
def test_config_patterns_are_exact(section: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"store": {"path": str(tmp_path / "bot.db")}, **section})


def test_deploy_refuses_a_version_with_a_trailing_newline(
    slack: SlackEmulator, tmp_path: Path, clock: Any
) -> None:
    target = DeployTarget(tmp_path / "target")
    bot: RunningBot = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "services": {"payments": {"environments": {"production": target.environment()}}},
            "access": {"deployers": ["U0ALICE"]},
        },
    )
    try:
        for version in ('"v1.0.9\n"', '"v1.0.9\nv2"', "v1.0.9\u200f"):
            asked = bot.driver.slash(
                f"deploy --target=production --service=payments --version={version}"
            )
            (reply,) = slack.wait_for_response(asked.response_id, timeout=20)
            bot.settle()
            assert "is not a valid version" in reply["text"], reply
        assert bot.deps.store.query("SELECT * FROM deployments") == []
        assert target.calls() == []
    finally:
        bot.stop()
        target.stop()
