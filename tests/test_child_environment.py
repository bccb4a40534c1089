"""Deploy scripts, checks, backups and git get a minimal environment, never the bot's secrets.

A real bot process serves with Slack tokens, a Prometheus token and unrelated
variables in its environment; the scripts it runs record the environment they
got and print it (and a secret they found elsewhere), and fail. What they
received, what reached Slack, the timeline and the log are then read back.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.deploy import deployments
from services.deploy.model import State
from services.deploy.process import environment_for, run
from services.deploy.settings import EnvironmentSettings
from services.git.working_copy import GitRepository, Identity
from services.redaction import SECRETS
from services.store import Store
from tests.harness.bot_process import BotProcess
from tests.harness.git_repos import git, isolate_git_env
from tests.harness.running_bot import SIGNING_SECRET
from tests.harness.slack_emulator import SlackEmulator

pytestmark = pytest.mark.e2e

PROMETHEUS_TOKEN = "prom-token-5f1c9e0b7a"
ALLOWED = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "KUBECONFIG"}

DUMP = textwrap.dedent(
    """\
    import json, os, pathlib, sys
    root = pathlib.Path(__file__).parent
    what = sys.argv[1]
    (root / f"env-{what}.json").write_text(json.dumps(dict(os.environ)))
    # A script can still find a secret elsewhere (a file, a vault): its output is redacted.
    print("found: " + (root / "found.txt").read_text())
    print(f"{what}: my environment is")
    for key, value in sorted(os.environ.items()):
        print(f"{key}={value}")
    sys.exit(1 if what == "deploy" else 0)
    """
)


def test_commands_get_a_minimal_environment_and_secrets_never_leave(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "dump.py").write_text(DUMP)
    (target / "found.txt").write_text(f"bot={slack.bot_token} prometheus={PROMETHEUS_TOKEN}")
    kubeconfig = tmp_path / "kubeconfig"
    script = [sys.executable, str(target / "dump.py")]
    production = {
        "backend": "command",
        "command": {"deploy": [*script, "deploy", "{version}"], "timeout_seconds": 30},
        "checks": [{"name": "smoke", "argv": [*script, "check"]}],
        "backup": [*script, "backup"],
        "approvers": ["U0BOB"],
        "approvals": 1,
        "verify_seconds": 0,
        "env": {"inherit": ["AWS_PROFILE", "NOT_SET_ANYWHERE"], "set": {"HELM_NAMESPACE": "pay"}},
    }
    staging = {
        "backend": "command",
        "command": {"deploy": [*script, "deploy", "{version}"]},
        "analysis": {"prometheus_url": "http://127.0.0.1:9", "bearer_token_env": "PROM_TOKEN"},
    }
    config = tmp_path / "hotfix.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp_path / "bot.db")},
                "access": {"deployers": ["U0ALICE"]},
                "services": {
                    "payments": {"environments": {"production": production, "staging": staging}}
                },
            }
        )
    )
    bot = BotProcess(
        config=config,
        slack=slack,
        clock_file=None,
        log=tmp_path / "bot.log",
        verbose=True,
        extra_env={
            "PROM_TOKEN": PROMETHEUS_TOKEN,
            "AWS_PROFILE": "ops",
            "KUBECONFIG": str(kubeconfig),
            "UNRELATED_SETTING": "not-for-children",
        },
    )
    try:
        asked = bot.driver.slash("deploy --target=production --service=payments --version=v2.1.1")
        slack.wait_for_response(asked.response_id, timeout=20)
        approved = bot.driver.block_action("hotfix_deploy_approve", value="DEP-1", user_id="U0BOB")
        slack.wait_for_response(approved.response_id, timeout=20)
        store = Store(tmp_path / "bot.db")
        try:
            assert slack.wait_for(
                lambda: deployments.get(store, "DEP-1").state is State.FAILED, timeout=30
            )
            timeline_rows = json.dumps(store.query("SELECT text, data FROM timeline"))
        finally:
            store.close()
    finally:
        bot.stop()

    for what in ("check", "backup", "deploy"):
        received = json.loads((target / f"env-{what}.json").read_text())
        assert set(received) <= ALLOWED | {"AWS_PROFILE", "HELM_NAMESPACE"}, what
        assert received["AWS_PROFILE"] == "ops"
        assert received["HELM_NAMESPACE"] == "pay"
        assert received["KUBECONFIG"] == str(kubeconfig)
        assert received["PATH"] == os.environ["PATH"]
        assert "UNRELATED_SETTING" not in received and "NOT_SET_ANYWHERE" not in received

    to_slack = json.dumps([c.args for c in slack.calls]) + json.dumps(
        [slack.responses(r) for r in (asked.response_id, approved.response_id)]
    )
    log = (tmp_path / "bot.log").read_text()
    assert "found: bot=[redacted] prometheus=[redacted]" in timeline_rows
    assert "[redacted]" in to_slack  # the failure's output tail was posted, redacted
    for secret in (slack.bot_token, SIGNING_SECRET, PROMETHEUS_TOKEN):
        for where, text in (("timeline", timeline_rows), ("slack", to_slack), ("log", log)):
            assert secret not in text, f"{secret} reached the {where}"


def test_git_runs_with_the_minimal_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git_env(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-never-for-git-4711")
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    clone = tmp_path / "clone"
    git(tmp_path, "init", "--quiet", str(clone))
    repo = GitRepository.open(clone, identity=Identity("hotfix-bot", "bot@example.com"))
    try:
        # A hook, alias or credential helper sees exactly what git's child sees.
        shown = repo.run("-c", "alias.showenv=!env", "showenv").stdout
    finally:
        repo.close()
    received = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    assert "SLACK_BOT_TOKEN" not in received
    assert received["SSH_AUTH_SOCK"] == str(tmp_path / "agent.sock")
    assert received["GIT_TERMINAL_PROMPT"] == "0"
    assert received["GIT_COMMITTER_NAME"] == "hotfix-bot"


def test_a_registered_secret_in_git_output_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git_env(monkeypatch, tmp_path / "home")
    clone = tmp_path / "clone"
    git(tmp_path, "init", "--quiet", str(clone))
    SECRETS.register(["xoxb-printed-by-a-hook-99"])
    try:
        repo = GitRepository.open(clone, identity=Identity("hotfix-bot", "bot@example.com"))
        shown = repo.run("-c", "alias.say=!echo xoxb-printed-by-a-hook-99", "say").stdout
        repo.close()
    finally:
        SECRETS.forget_all()
    assert shown.strip() == "[redacted]"


@pytest.mark.parametrize(
    "env",
    [
        ["SLACK_BOT_TOKEN"],
        {"set": {"SLACK_SIGNING_SECRET": "x"}},
        ["AWS_PROFILE\n"],
        ["AWS PROFILE"],
        {"inherit": ["A"], "unknown": 1},
    ],
    ids=["slack-token", "slack-secret-set", "trailing-newline", "space", "unknown-key"],
)
def test_the_env_setting_refuses_the_bots_credentials_and_bad_names(env: object) -> None:
    with pytest.raises(ValidationError):
        EnvironmentSettings.model_validate(
            {"backend": "command", "command": {"deploy": ["true"]}, "env": env}
        )


def test_a_kubernetes_targets_kubeconfig_reaches_its_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/home/bot/.kube/config")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "never-for-kubectl-0815")
    environment = EnvironmentSettings.model_validate(
        {
            "backend": "kubernetes",
            "kubernetes": {
                "kubeconfig": "/etc/hotfix/prod-kubeconfig",
                "namespace": "payments",
                "deployment": "payments",
                "image": "registry.example.com/payments",
            },
        }
    )
    printed = run(
        [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        timeout=30,
        env=environment_for(environment),
    )
    received = json.loads(printed.output)
    assert received["KUBECONFIG"] == "/etc/hotfix/prod-kubeconfig"
    assert set(received) <= ALLOWED


def test_a_kubernetes_section_beside_a_command_backend_points_its_scripts_at_that_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`backend: command` running helm, with the cluster named in a `kubernetes:` section:
    the scripts get that kubeconfig, not the bot's own."""
    monkeypatch.setenv("KUBECONFIG", "/home/bot/.kube/config")
    environment = EnvironmentSettings.model_validate(
        {
            "backend": "command",
            "command": {"deploy": ["helm", "upgrade", "payments", "--set", "tag={version}"]},
            "kubernetes": {
                "kubeconfig": "/etc/hotfix/prod-kubeconfig",
                "namespace": "payments",
                "deployment": "payments",
                "image": "registry.example.com/payments",
            },
        }
    )
    assert environment_for(environment)["KUBECONFIG"] == "/etc/hotfix/prod-kubeconfig"
    pinned = environment.model_copy(
        update={"env": environment.env.model_copy(update={"set": {"KUBECONFIG": "/pinned"}})}
    )
    assert environment_for(pinned)["KUBECONFIG"] == "/pinned"  # env.set wins
