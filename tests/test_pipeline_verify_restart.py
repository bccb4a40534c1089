"""A verification the bot died under is never left `running`: the restarted bot marks it
interrupted (it never passed), with a timeline row saying to run it again, and edits its
card to say that the armed --auto-rollback did not run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.pipeline import records
from services.pipeline.records import RunState
from services.store import Store
from tests.harness.bot_process import BotProcess
from tests.harness.deploy_target import DeployTarget
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_verification_running_when_the_bot_died_is_interrupted_at_start(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path
) -> None:
    config = tmp_path / "hotfix.yml"
    production = target.environment(
        health_checks=[],
        verify_interval_seconds=1,
        endpoints={"critical": [{"url": target.health_url}]},
    )
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp_path / "bot.db")},
                "access": {"deployers": ["U0ALICE"]},
                "services": {"payments": {"environments": {"production": production}}},
            }
        )
    )
    log = tmp_path / "bot.log"
    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    store = Store(tmp_path / "bot.db")
    try:
        sent = first.driver.slash(
            "verify --endpoints=critical --duration=10m --target=production --service=payments"
            " --auto-rollback"
        )
        assert sent.status == 200

        def sampling() -> bool:
            row = store.query_one("SELECT id FROM pipeline_runs WHERE id = 'VER-1'")
            return row is not None and records.get(store, "VER-1").detail.get("samples", 0) >= 2

        assert wait_until(sampling, timeout=30), log.read_text()
        first.kill()
        assert records.get(store, "VER-1").state is RunState.RUNNING

        second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
        try:
            run = records.get(store, "VER-1")
            assert run.state is RunState.INTERRUPTED and run.finished_at is not None
            (row,) = store.query("SELECT * FROM timeline WHERE kind = 'verify_interrupted'")
            assert "VER-1: interrupted by a restart of the bot; run it again" in row["text"]
            # Its card no longer says "running": it says no rollback will come, and how to.
            assert run.channel_id and run.card_ts
            card = slack.message(run.channel_id, run.card_ts)
            assert card is not None
            said = str(card["blocks"])
            assert "interrupted by a restart of the bot" in said
            assert "NO rollback ran" in said
            assert "/hotfix rollback --target=production --service=payments" in said
            assert (
                records.latest_passed(
                    store,
                    kind=records.RunKind.VERIFY,
                    service="payments",
                    environment="production",
                    version="v2.1.0",
                )
                is None
            )
        finally:
            second.stop()
    finally:
        first.stop()
        store.close()
