"""The command grammar people type from runbooks, and what a wrong command gets back."""

from __future__ import annotations

import click
import pytest

from handlers.core.commands import ChatGroup, chat_command
from handlers.core.context import CommandEnv
from handlers.core.params import SLACK_CHANNEL, SLACK_USER
from handlers.core.replies import Reply
from handlers.core.router import Router
from handlers.core.tokenize import tokenize
from services.audit import search
from services.errors import PermissionDeniedError

pytestmark = pytest.mark.unit

# A tree shaped like the real one, so that the grammar is tested independently of
# which commands exist today.
TREE = ChatGroup("hotfix", help="Test tree.")
INCIDENT = ChatGroup("incident", help="Incidents.")
TREE.add_command(INCIDENT)


@chat_command(INCIDENT, "create", example='/hotfix incident create --severity=sev1 --title="Down"')
@click.option("--severity", type=click.Choice(["sev0", "sev1", "sev2", "sev3"]), required=True)
@click.option("--title", required=True)
@click.option("--impact", type=click.Choice(["low", "medium", "high"]))
@click.option("--commander", type=SLACK_USER)
@click.option("--channel", type=SLACK_CHANNEL)
def create(env: CommandEnv, **options: object) -> Reply:
    return Reply("echo", options)


DEPLOY = ChatGroup("deploy", help="Deployments.")
TREE.add_command(DEPLOY)


@chat_command(DEPLOY, "deploy", example="/hotfix deploy --target=production")
@click.option("--target", required=True)
def deploy(env: CommandEnv, target: str) -> Reply:
    return Reply("echo", {"target": target})


@chat_command(DEPLOY, "list", example="/hotfix deploy list")
def deploy_list(env: CommandEnv) -> Reply:
    return Reply("echo", {"listed": True})


@chat_command(TREE, "note", example="/hotfix note it's recovering", raw_text="text")
@click.argument("text", required=True)
def note(env: CommandEnv, text: str) -> Reply:
    return Reply("echo", {"text": text})


@chat_command(TREE, "forbidden", example="/hotfix forbidden")
def forbidden(env: CommandEnv) -> Reply:
    raise PermissionDeniedError("Only approvers may do that.", hint="Ask an approver.")


@chat_command(TREE, "crash", example="/hotfix crash")
def crash(env: CommandEnv) -> Reply:
    raise RuntimeError("secret internal detail")


@pytest.fixture
def tree_router() -> Router:
    return Router(TREE, prog="/hotfix")


def run(router: Router, env: CommandEnv, text: str) -> Reply:
    return router.run(text, env.with_invocation(text=text))


@pytest.mark.parametrize(
    "text",
    [
        'incident create --severity=sev1 --title="Payment Gateway Down" --impact=high',
        "incident create --severity sev1 --title 'Payment Gateway Down' --impact high",
        "incident create --severity=sev1 --title=\u201cPayment Gateway Down\u201d --impact=high",
        '/hotfix incident create --impact=high --title="Payment Gateway Down" --severity=sev1',
    ],
)
def test_runbook_grammar(tree_router: Router, console_env: CommandEnv, text: str) -> None:
    reply = run(tree_router, console_env, text)
    assert reply.template == "echo"
    assert reply.data["severity"] == "sev1"
    assert reply.data["title"] == "Payment Gateway Down"
    assert reply.data["impact"] == "high"


def test_slack_escaped_mentions_and_entities(tree_router: Router, console_env: CommandEnv) -> None:
    text = (
        'incident create --severity=sev2 --title="DB &amp; cache &lt;down&gt;"'
        " --commander=<@U024BE7LH|alice> --channel <#C0123ABC|war-room>"
    )
    reply = run(tree_router, console_env, text)
    assert reply.data["title"] == "DB & cache <down>"
    assert reply.data["commander"] == "U024BE7LH"
    assert reply.data["channel"] == "C0123ABC"


def test_free_text_is_taken_verbatim(tree_router: Router, console_env: CommandEnv) -> None:
    reply = run(tree_router, console_env, 'note it\'s   recovering --fast &amp; "quoted"')
    assert reply.data["text"] == 'it\'s   recovering --fast & "quoted"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "incident create --severity=sev9 --title=x",
            "Invalid value for '--severity': 'sev9' is not one of",
        ),
        (
            "incident create --sevrity=sev1 --title=x",
            "No such option '--sevrity'. Did you mean '--severity'?",
        ),
        ("incident create --title=x", "Missing option '--severity'"),
        (
            "incident craete",
            "`/hotfix incident craete` is not a command. Did you mean `/hotfix incident create`?",
        ),
        (
            "incident create --severity=sev1 --title=x --commander=@-alice",
            "'@-alice' is not a person's name.",
        ),
        (
            "incident create --severity=sev1 --title=x --commander=alice",
            "'alice' is not a Slack user",
        ),
        ('incident create --title="unclosed', "A quote is not closed"),
        ("--severity=sev1", "`--severity=sev1` is an option, but `/hotfix` needs a command first."),
    ],
)
def test_bad_input_names_the_offending_token(
    tree_router: Router, console_env: CommandEnv, text: str, expected: str
) -> None:
    reply = run(tree_router, console_env, text)
    assert reply.template == "usage_error"
    assert expected in reply.data["message"]
    audit = search(console_env.deps.store, limit=1)[0]
    assert audit["outcome"] == "usage_error"
    assert audit["actor"] == "console:alice"


def test_usage_error_shows_usage_and_example(tree_router: Router, console_env: CommandEnv) -> None:
    reply = run(tree_router, console_env, "incident create --bogus")
    assert reply.data["usage"] == "/hotfix incident create [OPTIONS]"
    assert reply.data["example"].startswith("/hotfix incident create --severity=sev1")
    assert reply.data["help_path"] == "incident create"


def test_help_lists_every_command_with_flags_and_examples(
    tree_router: Router, console_env: CommandEnv
) -> None:
    reply = run(tree_router, console_env, "")
    assert reply.template == "help"
    paths = [c["path"] for c in reply.data["commands"]]
    assert paths == [
        "/hotfix crash",
        "/hotfix deploy",
        "/hotfix deploy list",
        "/hotfix forbidden",
        "/hotfix incident create",
        "/hotfix note",
    ]
    create_help = reply.data["commands"][4]
    flags = [o["flags"] for o in create_help["options"]]
    assert "--severity [sev0|sev1|sev2|sev3]" in flags
    assert create_help["example"].startswith("/hotfix incident create")


@pytest.mark.parametrize("text", ["incident create --help", "incident create -h", "note --help"])
def test_help_flag_on_a_command(tree_router: Router, console_env: CommandEnv, text: str) -> None:
    reply = run(tree_router, console_env, text)
    assert reply.template == "help"
    assert reply.data["detailed"] is True
    assert len(reply.data["commands"]) == 1


def test_group_alone_shows_its_commands(tree_router: Router, console_env: CommandEnv) -> None:
    reply = run(tree_router, console_env, "incident")
    assert [c["path"] for c in reply.data["commands"]] == ["/hotfix incident create"]


def test_refusal_is_answered_and_audited(tree_router: Router, console_env: CommandEnv) -> None:
    reply = run(tree_router, console_env, "forbidden")
    assert reply.template == "error"
    assert reply.data == {
        "message": "Only approvers may do that.",
        "hint": "Ask an approver.",
        "error_id": None,
    }
    assert search(console_env.deps.store, limit=1)[0]["outcome"] == "refused"


def test_a_crash_becomes_a_message_with_an_error_id_not_a_traceback(
    tree_router: Router, console_env: CommandEnv
) -> None:
    reply = run(tree_router, console_env, "crash")
    assert reply.template == "error"
    assert "secret internal detail" not in str(reply.data)
    assert reply.data["error_id"] in reply.data["hint"]
    assert search(console_env.deps.store, limit=1)[0]["outcome"] == "error"


def test_prepare_does_not_run_the_command(tree_router: Router, console_env: CommandEnv) -> None:
    prepared = tree_router.prepare("crash", console_env)
    assert prepared.reply is None and prepared.runs_on_worker
    assert search(console_env.deps.store) == []


def test_tokenize_keeps_mentions_whole() -> None:
    assert tokenize("commander <@U1|al ice> &lt;x&gt;") == ["commander", "<@U1|al", "ice>", "<x>"]
    assert tokenize("commander <@U1|alice>") == ["commander", "<@U1|alice>"]


def test_real_tree_help_and_audit(router: Router, console_env: CommandEnv) -> None:
    assert run(router, console_env, "help").template == "help"
    reply = run(router, console_env, "audit --limit 5")
    assert reply.template == "audit"
    assert [e["action"] for e in reply.data["entries"]] == ["command:help"]


def test_a_group_with_a_default_runs_it_for_options_and_subcommands_by_name(
    tree_router: Router, console_env: CommandEnv
) -> None:
    assert run(tree_router, console_env, "deploy --target=production").data == {
        "target": "production"
    }
    assert run(tree_router, console_env, "deploy list").data == {"listed": True}
    usage = run(tree_router, console_env, "deploy")
    assert usage.template == "usage_error" and "--target" in usage.data["message"]
    assert usage.data["usage"] == "/hotfix deploy [OPTIONS]"
    typo = run(tree_router, console_env, "deploy lsit")
    assert "Did you mean `/hotfix deploy list`?" in typo.data["message"]
    group_help = run(tree_router, console_env, "deploy --help")
    assert [c["path"] for c in group_help.data["commands"]] == [
        "/hotfix deploy",
        "/hotfix deploy list",
    ]
    detailed = run(tree_router, console_env, "deploy --target=x --help")
    assert detailed.data["detailed"] is True
    assert detailed.data["commands"][0]["path"] == "/hotfix deploy"
