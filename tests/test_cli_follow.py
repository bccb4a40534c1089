"""A deploy or rollback asked from the terminal follows its progress there and exits by outcome.

Real `hotfix-bot` subprocesses, a command-backend target with real scripts and a real
health endpoint; approvals come from Slack through a real bot on the same store.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.deploy import deployments
from services.deploy.model import State
from tests import test_deploy_command as base
from tests.harness.cli import cli, run, terminal_env
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot
from tests.harness.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

dbot = base.dbot


def cli_config(tmp_path: Path, target: DeployTarget, store: Path, **extra: Any) -> Path:
    settings: dict[str, Any] = {
        **base.bot_settings(target, verify_seconds=0),
        "store": {"path": str(store)},
        **extra,
    }
    staging = target.environment(approvals=0, verify_seconds=0)
    # The rollback script is told the version the bot resolved ("previous" from its records).
    staging["command"]["rollback"].append("{version}")  # type: ignore[index]
    settings["services"]["payments"]["environments"]["staging"] = staging
    settings["access"] = {"deployers": ["U0ALICE"], "console_is_trusted": True}
    path = tmp_path / "terminal.yml"
    path.write_text(yaml.safe_dump(settings))
    return path


# A production request: two approvals (in Slack) before it runs.
PRODUCTION = ("deploy", "--target=production", "--service=payments", "--version=v2.1.1")


def unmarked(text: str) -> str:
    """Terminal output without Slack's bold and code marks (the console may keep or drop them)."""
    return text.replace("*", "").replace("`", "")


def followed(
    config: Path, words: tuple[str, ...], decide: Callable[[], None]
) -> subprocess.CompletedProcess[str]:
    """Run the command in the background, decide in Slack meanwhile, and wait for its end."""
    process = subprocess.Popen(
        cli(config, *words),
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=terminal_env(),
    )
    try:
        decide()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def pending_request(bot: RunningBot) -> bool:
    found = deployments.latest_for_target(
        bot.deps.store, "payments", "production", states={State.REQUESTED}
    )
    return found is not None


def test_a_deploy_from_the_terminal_prints_its_steps_and_exits_0_or_1_by_outcome(
    target: DeployTarget, tmp_path: Path
) -> None:
    config = cli_config(tmp_path, target, tmp_path / "cli.db")
    ok = run(config, "deploy", "--target=staging", "--service=payments", "--version=v2.1.1")
    out = ok.stdout
    assert ok.returncode == 0, out + ok.stderr
    assert "DEP-1 needs no approval: started." in out
    assert "Following DEP-1 until it ends" in out
    assert "  step deploy: ok" in out and "  step verify: ok" in out
    assert "DEP-1: payments v2.1.1 is live in staging" in out
    assert out.rstrip().endswith("DEP-1: Succeeded (exit 0).")
    assert target.live == "v2.1.1"

    target.bad_versions.add("v2.1.2")
    bad = run(config, "deploy", "--target=staging", "--service=payments", "--version=v2.1.2")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "DEP-2: Rolled back to v2.1.1 (exit 1)." in bad.stdout
    assert "  step verify: failed: " in bad.stdout
    assert target.live == "v2.1.1"

    back = run(config, "rollback", "--target=staging", "--service=payments", "--version=previous")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "DEP-3: Rolled back to v2.1.0 (exit 0)." in back.stdout
    assert target.live == "v2.1.0"

    # --no-wait: nothing is followed, but a deployment this process runs still ends here.
    quick = run(
        config, "deploy", "--target=staging", "--service=payments", "--version=v2.1.3", "--no-wait"
    )
    assert quick.returncode == 0, quick.stdout + quick.stderr
    assert "Following" not in quick.stdout
    assert "DEP-4 needed no approval and runs in this process" in quick.stdout
    assert target.live == "v2.1.3"

    # The same deployments, seen from the terminal (none of them in an incident).
    listed = run(config, "deploy", "list", "--state=finished", "--limit=3")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    text = unmarked(listed.stdout)
    shown = [line for line in text.splitlines() if "→ staging" in line]
    assert [re.search(r"(Rollback )?DEP-[0-9]+", line)[0] for line in shown] == [  # type: ignore[index]
        "DEP-4",
        "Rollback DEP-3",
        "DEP-2",
    ]
    assert "Older: /hotfix deploy list --state=finished --before=DEP-2" in text
    status = unmarked(run(config, "deploy", "status", "DEP-2").stdout)
    assert "State: Rolled back to v2.1.1" in status
    assert "❌ verify" in status
    missing = run(config, "deploy", "status", "DEP-40")
    assert missing.returncode == 1 and "There is no deployment DEP-40." in missing.stdout


def test_the_terminal_follows_a_request_approved_in_slack_and_no_wait_returns_at_once(
    dbot: RunningBot, target: DeployTarget, tmp_path: Path
) -> None:
    config = cli_config(tmp_path, target, tmp_path / "bot.db")  # the bot's own store
    quick = run(config, *PRODUCTION, "--no-wait")
    assert quick.returncode == 0, quick.stdout + quick.stderr
    assert "DEP-1 requested: waiting for 2 approval(s)." in quick.stdout
    assert "Following" not in quick.stdout
    base.click(dbot, "hotfix_deploy_reject", "DEP-1", "U0BOB")

    def approve() -> None:
        assert wait_until(lambda: pending_request(dbot), timeout=30)
        base.click(dbot, "hotfix_deploy_approve", "DEP-2", "U0BOB")
        base.click(dbot, "hotfix_deploy_approve", "DEP-2", "U0CAROL")

    done = followed(config, PRODUCTION, approve)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "DEP-2 requested: waiting for 2 approval(s)." in out
    assert "DEP-2: approved" in out
    assert out.rstrip().endswith("DEP-2: Succeeded (exit 0).")
    assert target.live == "v2.1.1"


def test_a_rejected_request_exits_1(dbot: RunningBot, target: DeployTarget, tmp_path: Path) -> None:
    config = cli_config(tmp_path, target, tmp_path / "bot.db")

    def reject() -> None:
        assert wait_until(lambda: pending_request(dbot), timeout=30)
        base.click(dbot, "hotfix_deploy_reject", "DEP-1", "U0BOB")

    done = followed(config, PRODUCTION, reject)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("DEP-1: Rejected (exit 1).")
