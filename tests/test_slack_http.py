"""The bot over real HTTP: signed requests in, Slack Web API calls out, to the emulator."""

from __future__ import annotations

import time
from pathlib import Path

import click
import pytest

from handlers.core.commands import ChatGroup, chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.core.router import Router
from services.clock import ManualClock
from services.errors import UserFacingError
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = pytest.mark.e2e


def section_texts(blocks: list[dict]) -> str:
    return "\n".join(b["text"]["text"] for b in blocks if b.get("type") == "section")


def test_bot_verifies_its_token_with_the_configured_api_url(bot: RunningBot) -> None:
    calls = bot.slack.calls_to("auth.test")
    assert calls and calls[0].ok


def test_help_is_answered_in_the_ack_as_an_ephemeral_message(bot: RunningBot) -> None:
    result = bot.driver.slash("help", user_id="U0ALICE", channel_id="C0GENERAL")
    assert result.status == 200
    assert result.json["response_type"] == "ephemeral"
    body = section_texts(result.json["blocks"])
    assert "*`/hotfix audit`*" in body and "*`/hotfix help`*" in body
    assert "Example: `/hotfix audit --user @alice --outcome=refused --limit 20`" in body
    assert result.json["text"].startswith("hotfix-bot: /hotfix ")
    assert "/hotfix audit" in result.json["text"]
    # Nothing was posted anywhere: help is for the asker only.
    assert bot.slack.calls_to("chat.postMessage") == []
    (row,) = bot.audit()
    assert (row["actor"], row["source"], row["channel_id"], row["team_id"]) == (
        "U0ALICE",
        "slack",
        "C0GENERAL",
        "T0TEAM",
    )
    assert (row["action"], row["outcome"]) == ("command:help", "ok")


def test_command_help_flag(bot: RunningBot) -> None:
    result = bot.driver.slash("audit --help")
    body = section_texts(result.json["blocks"])
    assert "Usage: `/hotfix audit [OPTIONS]`" in body
    assert "`--limit INTEGER RANGE`" in body


def test_unknown_command_names_the_token_and_changes_nothing(bot: RunningBot) -> None:
    result = bot.driver.slash('deploi --target=production --title="x y"')
    assert result.status == 200
    assert result.json["response_type"] == "ephemeral"
    text = section_texts(result.json["blocks"])
    assert "`/hotfix deploi` is not a command." in text
    assert "Nothing was changed." in text
    button = result.json["blocks"][-1]["elements"][0]
    assert (button["action_id"], button["value"]) == ("hotfix_help", "")
    assert [c.method for c in bot.slack.calls if c.method != "auth.test"] == []
    assert bot.audit()[-1]["outcome"] == "usage_error"


def test_mentions_arrive_escaped_and_parse(bot: RunningBot) -> None:
    bot.driver.slash("help")
    result = bot.driver.slash("audit --user=<@U0ALICE|alice> --outcome ok", user_id="U0BOB")
    assert result.status == 200
    text = section_texts(result.json["blocks"])
    assert "<@U0ALICE>" in text and "`command:help`" in text


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "not-the-signing-secret"},
        {"timestamp": int(time.time()) - 6 * 60},
        {"sign": False},
    ],
    ids=["wrong-secret", "stale-timestamp", "unsigned"],
)
def test_forged_or_stale_requests_are_rejected_and_audited(bot: RunningBot, forgery: dict) -> None:
    result = bot.driver.slash("audit", **forgery)
    assert result.status == 401
    rows = bot.audit()
    assert [r["outcome"] for r in rows] == ["forged"]
    assert rows[0]["action"] == "request"


def test_replayed_request_with_valid_signature_is_accepted_within_the_window(
    bot: RunningBot,
) -> None:
    first = bot.driver.slash("help")
    again = bot.driver.replay(first, retry_num=1)
    assert again.status == 200


def test_help_button_answers_through_the_response_url(bot: RunningBot) -> None:
    result = bot.driver.block_action("hotfix_help", value="audit", user_id="U0BOB")
    assert result.status == 200
    (reply,) = bot.slack.wait_for_response(result.response_id)
    assert reply["replace_original"] is False
    assert reply["response_type"] == "ephemeral"
    assert "Usage: `/hotfix audit [OPTIONS]`" in section_texts(reply["blocks"])
    bot.settle()
    click_row = bot.audit()[-1]
    assert (click_row["action"], click_row["actor"], click_row["outcome"]) == (
        "click:hotfix_help",
        "U0BOB",
        "ok",
    )


def test_app_home_lists_the_commands(bot: RunningBot) -> None:
    result = bot.driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    assert result.status == 200
    (call,) = bot.slack.wait_for_call("views.publish")
    assert call.args["user_id"] == "U0ALICE"
    view = bot.slack.home_view("U0ALICE")
    assert view is not None and view["type"] == "home"
    texts = [e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert any("/hotfix audit" in t for t in texts)


def test_url_verification_challenge(bot: RunningBot) -> None:
    result = bot.driver.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    assert result.status == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in result.body


# -- slow commands run on the worker and answer through the response_url -------

SLOW = ChatGroup("hotfix", help="Slow test commands.")


@chat_command(SLOW, "slow", example="/hotfix slow --label x")
@click.option("--label", required=True)
def slow(env: CommandEnv, label: str) -> Reply:
    return Reply("error", {"message": f"done {label}", "hint": None, "error_id": None})


@chat_command(SLOW, "broken", example="/hotfix broken")
def broken(env: CommandEnv) -> Reply:
    raise UserFacingError("git push was rejected by origin.", hint="Fetch and try again.")


@pytest.fixture
def slow_bot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> RunningBot:
    running = start_bot(
        slack=slack, store_path=tmp_path / "slow.db", clock=clock, router=Router(SLOW)
    )
    yield running
    running.stop()


def test_slow_command_is_acked_then_answered_via_response_url(slow_bot: RunningBot) -> None:
    result = slow_bot.driver.slash("slow --label=deploy")
    assert result.status == 200
    assert result.json == {"text": "Working on `/hotfix slow`…", "response_type": "ephemeral"}
    (reply,) = slow_bot.slack.wait_for_response(result.response_id)
    assert reply["text"] == "done deploy"
    assert reply["response_type"] == "ephemeral"


def test_failure_on_the_worker_reaches_the_person_who_asked(slow_bot: RunningBot) -> None:
    result = slow_bot.driver.slash("broken")
    (reply,) = slow_bot.slack.wait_for_response(result.response_id)
    text = section_texts(reply["blocks"])
    assert "git push was rejected by origin." in text and "Fetch and try again." in text
    slow_bot.settle()
    assert slow_bot.audit()[-1]["outcome"] == "failed"
