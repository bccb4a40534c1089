"""Templates: Block Kit that Slack accepts, text the console can print, overrides that win."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.console.text import plain, to_console
from handlers.core.context import CommandEnv
from handlers.core.rendering import SHIPPED_TEMPLATES, Renderer, TemplateError
from handlers.core.replies import Reply, error_reply
from handlers.core.router import Router

pytestmark = pytest.mark.unit

SAMPLES = {
    "error": error_reply("The deploy lock is held by <@U1>.", hint="Wait, or ask them."),
    "usage_error": Reply(
        "usage_error",
        {
            "message": "No such option",
            "usage": "/hotfix x",
            "example": "/hotfix x",
            "help_path": "x",
            "prog": "/hotfix",
        },
    ),
    "audit": Reply(
        "audit",
        {
            "entries": [
                {
                    "id": 7,
                    "at": "2026-03-14T09:26:53+00:00",
                    "actor": "U1",
                    "action": "command:help",
                    "outcome": "ok",
                    "detail": "help",
                }
            ],
            "user": "U1",
            "outcome": "ok",
            "zone": "UTC",
            "older": "/hotfix audit --user U1 --before 7",
        },
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_shipped_templates_render_valid_messages(name: str) -> None:
    message = Renderer().render(SAMPLES[name])
    assert message.text
    assert 0 < len(message.blocks) <= 50
    for block in message.blocks:
        assert block["type"] in {"section", "header", "context", "actions", "divider"}
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn"
            assert len(block["text"]["text"]) <= 3000


def test_help_for_the_real_tree_renders(router: Router, console_env: CommandEnv) -> None:
    message = Renderer().render(router.run("help", console_env))
    body = "\n".join(b["text"]["text"] for b in message.blocks if b["type"] == "section")
    assert "*`/hotfix audit`*" in body
    assert "Example: `/hotfix audit --user @alice --outcome=refused --limit 20`" in body


def test_user_text_cannot_inject_mentions_or_break_yaml() -> None:
    hostile = 'Title: "quoted" <!channel> & <@U999>\n- item: {x}'
    message = Renderer().render(error_reply(hostile))
    text = message.blocks[0]["text"]["text"]
    assert "<!channel>" not in text and "<@U999>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U999&gt;" in text
    # The fallback text is what notifications and screen readers show: escaped too.
    assert message.text == 'Title: "quoted" &lt;!channel&gt; &amp; &lt;@U999&gt;\n- item: {x}'


def test_override_directory_wins_over_shipped_templates(tmp_path: Path) -> None:
    (tmp_path / "error.yml.j2").write_text(
        "text: {{ ('Custom: ' ~ message) | q }}\nblocks:\n  - type: section\n"
        "    text: {type: mrkdwn, text: {{ message | mrkdwn | q }}}\n"
    )
    message = Renderer(override_dir=tmp_path).render(error_reply("boom"))
    assert message.text == "Custom: boom"


def test_a_broken_override_is_reported_with_name_and_line(tmp_path: Path) -> None:
    (tmp_path / "help.yml.j2").write_text("text: ok\nblocks:\n{% for x in %}\n")
    problems = Renderer(override_dir=tmp_path).check()
    assert len(problems) == 1
    assert problems[0].line == 3
    assert str(problems[0]).startswith(str(tmp_path / "help.yml.j2") + ":3: ")


def test_rendering_with_missing_data_fails_loudly() -> None:
    with pytest.raises(TemplateError, match="error"):
        Renderer().render(Reply("error", {}))


def test_every_shipped_template_compiles() -> None:
    assert Renderer().check() == []
    assert sorted(p.name for p in SHIPPED_TEMPLATES.glob("*.yml.j2"))


def test_console_shows_buttons_as_numbered_choices() -> None:
    console = to_console(Renderer().render(SAMPLES["usage_error"]))
    assert "[1] Help for /hotfix x" in console.text
    assert console.choices[0].action_id == "hotfix_help"
    assert console.choices[0].value == "x"


def test_every_emoji_a_shipped_template_uses_reaches_the_terminal_as_a_character() -> None:
    """A shortcode the console does not know would print as `:stethoscope:` in the terminal."""
    import re

    from handlers.console.text import EMOJI

    used = {
        code
        for path in SHIPPED_TEMPLATES.glob("*.j2")
        for code in re.findall(r":([a-z_]+):", path.read_text())
    }
    assert used, "no shortcode found: the pattern is wrong"
    assert sorted(used - set(EMOJI)) == []
    assert plain(":stethoscope: VER-1") == "🩺 VER-1"
