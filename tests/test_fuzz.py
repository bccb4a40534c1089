"""Hostile and broken input: the parser, the HTTP endpoint and the config loader never crash."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import ConfigError, load_config
from handlers.core.context import CommandEnv
from handlers.core.rendering import Renderer
from handlers.core.router import Router
from tests.harness.running_bot import RunningBot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
WORDS = st.sampled_from(
    [
        "incident",
        "create",
        "update",
        "--severity",
        "sev1",
        "--title",
        '"',
        "'",
        "<@U1|x>",
        "&amp;",
        "--",
        "-h",
        "deploy",
        "--target=production",
        "note",
        "help",
        "audit",
        "--limit",
        "=",
        "\u201c",
        "💥",
        "\x00",
        "rollback",
    ]
)
COMMAND_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=12).map(" ".join),
)


@FUZZ
@given(text=COMMAND_TEXT)
def test_any_text_gets_a_renderable_answer(
    router: Router, console_env: CommandEnv, text: str
) -> None:
    prepared = router.prepare(text, console_env.with_invocation(text=text))
    if prepared.reply is not None:
        message = Renderer().render(prepared.reply)
        assert message.text
        assert "Traceback" not in message.text


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(max_size=2000))
def test_the_http_endpoint_answers_any_slash_text_without_a_5xx(bot: RunningBot, text: str) -> None:
    result = bot.driver.slash(text)
    assert result.status < 500
    assert "Traceback" not in result.body


def test_oversized_text_is_answered(bot: RunningBot) -> None:
    result = bot.driver.slash("incident create --title=" + "x" * 100_000)
    assert result.status == 200
    assert "Traceback" not in result.body


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"payload=%7Bnot-json"),
        (
            "application/x-www-form-urlencoded",
            urlencode({"payload": json.dumps({"type": "block_actions"})}).encode(),
        ),
        ("application/json", b'{"type": "event_callback", "event": '),
        ("application/json", b"[]"),
        ("application/x-www-form-urlencoded", b"command=%2Fhotfix"),
        ("text/plain", "\u2603".encode() * 1000),
    ],
    ids=[
        "broken-payload",
        "action-without-fields",
        "truncated-json",
        "json-list",
        "command-without-fields",
        "binary",
    ],
)
def test_malformed_signed_bodies_never_get_a_5xx(
    bot: RunningBot, content_type: str, body: bytes
) -> None:
    import urllib.error
    import urllib.request

    headers = {"Content-Type": content_type, **bot.driver.sign(body)}
    request = urllib.request.Request(bot.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status < 500
    # The bot is still up and answering.
    assert bot.driver.slash("help").status == 200


YAML_TEXT = st.one_of(
    st.text(max_size=200),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=12), children, max_size=4),
        ),
        max_leaves=12,
    ).map(json.dumps),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=YAML_TEXT)
def test_the_config_loader_reports_or_loads_never_crashes(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.report().startswith(str(path))
