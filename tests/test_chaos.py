"""Chaos: SIGKILL the bot at random points of its work, restart it, and check nothing is lost.

A seeded run of operations (declaration, status update, hotfix finish,
deployment) against one real bot process in HTTP mode, one SQLite file, a
real git origin and a real deploy target. Each iteration picks an operation
and a crash point: the k-th Slack Web API call of the operation (just before
Slack sees it, or just after Slack acted on it, before the bot hears back),
or a delay into the work. The bot is killed there with SIGKILL and a new
process is started on the same database. Requests the dead bot never
acknowledged are sent again as Slack does (X-Slack-Retry-Num). Time moves on
between iterations so that status reminders fall due along the way.

After every restart the invariants are checked: one incident per declaration
and one war room channel each (with one header, one announcement), every
status update and finished hotfix on the timeline exactly once, no deployment
left in flight (finished, rolled back, or interrupted with Resume and
Rollback on its card), and every reminder posted exactly once.

HOTFIX_CHAOS_SEED and HOTFIX_CHAOS_ITERATIONS reproduce or extend a run.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.clock import isoformat
from services.store import Store
from tests.harness.bot_process import BotProcess
from tests.harness.deploy_target import DeployTarget
from tests.harness.git_repos import GitWorld, git
from tests.harness.slack_driver import DriverResult, SlackRequest
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.waiting import wait_until

SEED = int(os.environ.get("HOTFIX_CHAOS_SEED", "20261126"))
ITERATIONS = int(os.environ.get("HOTFIX_CHAOS_ITERATIONS", "52"))
START = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
# rollback_skipped: a Rollback on an interrupted deploy whose script never ran finds the
# target already at what ran before (kubectl's "skipped rollback").
RESTING = {
    "succeeded",
    "rolled_back",
    "rollback_skipped",
    "failed",
    "rejected",
    "expired",
    "cancelled",
    "interrupted",
}
IN_FLIGHT = ("approved", "validating", "deploying", "verifying", "rolling_back")

pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def target(tmp_path: Path) -> Iterator[DeployTarget]:
    deploy_target = DeployTarget(tmp_path / "target")
    yield deploy_target
    deploy_target.stop()


@dataclass
class Expected:
    """What the operations asked for, to compare with what the bot and Slack now hold."""

    declarations: int = 0
    updates: dict[str, str] = field(default_factory=dict)  # update text -> incident
    update_keys: dict[str, str] = field(default_factory=dict)  # update text -> message key
    finished: dict[str, str] = field(default_factory=dict)  # issue key -> incident
    deployments: int = 0


class Crash(Exception):
    pass


class Chaos:
    def __init__(
        self, *, slack: SlackEmulator, world: GitWorld, target: DeployTarget, tmp: Path
    ) -> None:
        self.slack = slack
        self.world = world
        self.target = target
        self.rng = random.Random(SEED)
        self.clock_file = tmp / "clock"
        self.now = START
        self.clock_file.write_text(isoformat(self.now))
        self.db = tmp / "bot.db"
        self.config = tmp / "hotfix.yml"
        self.log = tmp / "bot.log"
        self.config.write_text(yaml.safe_dump(self._settings()))
        self.expected = Expected()
        self.bot = self._start()
        self.kills = 0
        self.version = 1
        # Requests sent to the bot that died: Slack retries the unacknowledged ones.
        self.pending: list[tuple[SlackRequest, DriverResult | None]] = []

    def _settings(self) -> dict[str, Any]:
        return {
            "store": {"path": str(self.db)},
            "access": {"deployers": ["U0ALICE"]},
            "incidents": {
                "announcement_channel": "C0INCIDENTS",
                "reminder_tick_seconds": 0.05,
            },
            "services": {
                "payments": {
                    "git": self.world.settings().model_dump(mode="json"),
                    "environments": {
                        "production": self.target.environment(approvals=2, verify_seconds=0)
                    },
                }
            },
        }

    def _start(self) -> BotProcess:
        return BotProcess(
            config=self.config, slack=self.slack, clock_file=self.clock_file, log=self.log
        )

    # ---------------------------------------------------------------- crashing

    def crash_at_slack_call(self, call_index: int, phase: str) -> None:
        """Kill the bot around its `call_index`-th Web API call from now on."""
        seen = 0
        lock = threading.Lock()

        def hook(method: str, when: str) -> bool:
            nonlocal seen
            if when != "before":
                if when == phase and seen == call_index:
                    self._kill_from_hook()
                return False
            with lock:
                seen += 1
                hit = seen == call_index
            if hit and phase == "before":
                self._kill_from_hook()
                return True  # Slack never sees this call
            return False

        self.slack.call_hook = hook

    def _kill_from_hook(self) -> None:
        if self.bot.process.poll() is None:
            self.bot.process.kill()

    def dead(self) -> bool:
        return self.bot.process.poll() is not None

    def restart(self) -> None:
        """Wait for the crash point (or the end of the work), SIGKILL, start a new process."""
        wait_until(lambda: self.dead() or self.quiet(), timeout=30)
        self.slack.call_hook = None
        self.bot.kill()
        self.kills += 1
        self.bot = self._start()
        pending, self.pending = self.pending, []
        for request, first in pending:
            if first is None or first.status >= 500:
                # Slack's side: a request that was not acknowledged is sent again.
                retried = self.bot.driver.send(request, retry_num=1, retry_reason="http_error")
                assert retried.status == 200, retried.body

    def send(self, request: SlackRequest) -> None:
        """Send; a request the dying bot never acknowledged is retried after the restart."""
        result: DriverResult | None = None
        if not self.dead():
            try:
                result = self.bot.driver.send(request)
            except (OSError, http.client.HTTPException):  # the bot died mid-answer
                result = None
        self.pending.append((request, result))

    # ---------------------------------------------------------------- operations

    def advance_time(self) -> None:
        self.now += timedelta(minutes=self.rng.choice([0, 0, 5, 12, 16, 31]))
        self.clock_file.write_text(isoformat(self.now))

    def open_incidents(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT id, channel_id FROM incidents WHERE status != 'resolved'"
            " AND channel_id IS NOT NULL ORDER BY number"
        )

    def declare(self, crash: Callable[[], None]) -> None:
        n = self.expected.declarations + 1
        severity = self.rng.choice(["sev1", "sev2", "sev3"])
        request = self.bot.driver.slash_request(
            f'incident create --severity={severity} --title="Chaos {n}"'
        )
        self.expected.declarations += 1
        crash()
        self.send(request)

    def some_open_incident(self, crash: Callable[[], None]) -> dict[str, Any] | None:
        """An open incident with a war room; with none, this operation declares one instead."""
        incidents = self.open_incidents()
        if not incidents:
            self.declare(crash)
            return None
        return self.rng.choice(incidents)

    def update(self, crash: Callable[[], None]) -> None:
        incident = self.some_open_incident(crash)
        if incident is None:
            return
        text = f"chaos update {len(self.expected.updates) + 1}"
        request = self.bot.driver.slash_request(
            f'incident update --status=identified --message="{text}"',
            channel_id=incident["channel_id"],
        )
        self.expected.updates[text] = incident["id"]
        self.expected.update_keys[text] = f"update:{request.trigger_id}"
        crash()
        self.send(request)

    def finish_hotfix(self, crash: Callable[[], None]) -> None:
        incident = self.some_open_incident(crash)
        if incident is None:
            return
        key = f"PROD-{len(self.expected.finished) + 1}"
        branch = f"hotfix/{key}-chaos"
        git(self.world.dev, "fetch", "--quiet", "origin")
        git(self.world.dev, "switch", "--quiet", "-c", branch, "origin/production")
        self.world.commit(branch, {f"fix_{key}.txt": key + "\n"}, f"Fix {key}")
        request = self.bot.driver.slash_request(
            f"finish --issue={key}", channel_id=incident["channel_id"]
        )
        self.expected.finished[key] = incident["id"]
        crash()
        self.send(request)

    def deploy(self, crash: Callable[[], None]) -> None:
        self.settle_deployments()
        incidents = self.open_incidents()
        channel = incidents[-1]["channel_id"] if incidents else "C0GENERAL"
        self.version += 1
        request = self.bot.driver.slash_request(
            f"deploy --target=production --service=payments --version=v3.0.{self.version}",
            channel_id=channel,
        )
        first = self.bot.driver.send(request)
        assert first.status == 200
        self.slack.wait_for_response(first.response_id or "", timeout=20)
        dep = f"DEP-{self.expected.deployments + 1}"
        assert wait_until(lambda: self.deployment(dep) is not None, timeout=20), dep
        self.expected.deployments += 1
        crash()
        for approver in ("U0BOB", "U0CAROL"):
            self.send(
                self.bot.driver.block_action_request(
                    "hotfix_deploy_approve", value=dep, user_id=approver, channel_id=channel
                )
            )

    def settle_deployments(self) -> None:
        """A person answers an interrupted card (Resume or Rollback), so the target is free."""
        for row in self.query("SELECT id, state FROM deployments WHERE state = 'interrupted'"):
            action = self.rng.choice(["hotfix_deploy_resume", "hotfix_deploy_rollback"])
            result = self.bot.driver.block_action(action, value=row["id"], user_id="U0ALICE")
            assert result.status == 200
            assert wait_until(
                lambda r=row: (
                    (self.deployment(r["id"]) or {}).get("state") in RESTING - {"interrupted"}
                ),
                timeout=30,
            ), self.deployment(row["id"])
        for row in self.query("SELECT id FROM deployments WHERE state = 'requested'"):
            for approver in ("U0BOB", "U0CAROL"):
                self.bot.driver.block_action(
                    "hotfix_deploy_approve", value=row["id"], user_id=approver
                )
            assert wait_until(
                lambda r=row: (self.deployment(r["id"]) or {}).get("state") in RESTING, timeout=30
            )

    # ---------------------------------------------------------------- observing

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        store = Store(self.db)
        try:
            return store.query(sql, params)
        finally:
            store.close()

    def deployment(self, dep: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM deployments WHERE id = ?", (dep,))
        return rows[0] if rows else None

    def quiet(self) -> bool:
        """The restarted bot has finished what the dead one left (journal, war rooms, deploys)."""
        busy = self.query(
            "SELECT (SELECT COUNT(*) FROM command_journal WHERE finished_at IS NULL)"
            " + (SELECT COUNT(*) FROM incidents WHERE war_room_done_at IS NULL)"
            f" + (SELECT COUNT(*) FROM deployments WHERE state IN {IN_FLIGHT!r}) AS n"
        )
        outcomes = self.query("SELECT outcome FROM command_journal WHERE outcome = 'expired'")
        assert not outcomes, "journaled work expired: the test's clock jumped during recovery"
        return busy[0]["n"] == 0 and len(self.query("SELECT id FROM incidents")) == (
            self.expected.declarations
        )

    def check(self, where: str) -> None:
        """The invariants hold once the restarted bot has caught up (it works in the background)."""
        assert wait_until(self.quiet, timeout=30), f"{where}: the bot did not settle"
        failure: AssertionError | None = None

        def holds() -> bool:
            nonlocal failure
            try:
                self.check_incidents(where)
                self.check_timeline(where)
                self.check_deployments(where)
                self.check_reminders(where)
            except AssertionError as exc:
                failure = exc
                return False
            return True

        if not wait_until(holds, timeout=15, every=0.1):
            assert failure is not None
            raise failure

    def check_incidents(self, where: str) -> None:
        incidents = self.query("SELECT * FROM incidents ORDER BY number")
        assert len(incidents) == self.expected.declarations, where
        for incident in incidents:
            rooms = [
                c
                for c in self.slack.calls_to("conversations.create")
                if c.ok and str(c.args.get("name", "")).startswith(f"inc-{incident['number']}-")
            ]
            assert len(rooms) == 1, (where, incident["id"], [c.args for c in rooms])
            assert incident["channel_id"] == rooms[0].response["channel"]["id"], where
            keys = Counter(
                (m.get("metadata") or {}).get("event_payload", {}).get("key")
                for m in self.slack.messages(incident["channel_id"])
            )
            assert keys[f"{incident['id']}:header"] == 1, (where, incident["id"], keys)
            announced = Counter(
                (m.get("metadata") or {}).get("event_payload", {}).get("key")
                for m in self.slack.messages("C0INCIDENTS")
            )
            assert announced[f"{incident['id']}:announcement"] == 1, (where, incident["id"])

    def check_timeline(self, where: str) -> None:
        events = self.query("SELECT incident_id, kind, text, data FROM timeline")
        once = Counter(
            (e["incident_id"], e["kind"])
            for e in events
            if e["kind"] in ("declared", "war_room_created", "announced")
        )
        for incident in self.query("SELECT id FROM incidents"):
            for kind in ("declared", "war_room_created", "announced"):
                assert once[(incident["id"], kind)] == 1, (where, incident["id"], kind)
        updates = Counter(
            (e["incident_id"], json.loads(e["data"]).get("message"))
            for e in events
            if e["kind"] == "status_update"
        )
        for text, incident_id in self.expected.updates.items():
            assert updates[(incident_id, text)] == 1, (where, text, incident_id)
            self.check_posted_once(where, incident_id, self.expected.update_keys[text])
        finished = Counter(
            (e["incident_id"], json.loads(e["data"]).get("issue_key"))
            for e in events
            if e["kind"] == "hotfix_finished"
        )
        tags = git(self.world.origin, "tag", "-l", "--format=%(contents)")
        for key, incident_id in self.expected.finished.items():
            assert f"Resolves: {key}" in tags, (where, key)
            assert finished[(incident_id, key)] == 1, (where, key)

    def check_posted_once(self, where: str, incident_id: str, key: str) -> None:
        """In the war room and in the announcement thread, exactly once each."""
        (incident,) = self.query(
            "SELECT channel_id, announcement_channel_id, announcement_ts FROM incidents"
            " WHERE id = ?",
            (incident_id,),
        )
        places = {
            "war room": self.slack.messages(incident["channel_id"]),
            "announcement thread": self.slack.thread(
                incident["announcement_channel_id"], incident["announcement_ts"]
            ),
        }
        for place, messages in places.items():
            keys = [(m.get("metadata") or {}).get("event_payload", {}).get("key") for m in messages]
            assert keys.count(key) == 1, (where, incident_id, key, place, keys.count(key))

    def check_deployments(self, where: str) -> None:
        deployments = self.query("SELECT * FROM deployments ORDER BY rowid")
        assert len(deployments) == self.expected.deployments, where
        for deployment in deployments:
            assert deployment["state"] in RESTING | {"requested"}, (where, deployment["id"])
            if deployment["state"] == "interrupted":
                card = self.slack.message(deployment["channel_id"], deployment["card_ts"])
                assert card is not None, where
                actions = [
                    e["action_id"]
                    for b in card["blocks"]
                    if b["type"] == "actions"
                    for e in b["elements"]
                ]
                assert actions == ["hotfix_deploy_resume", "hotfix_deploy_rollback"], where

    def check_reminders(self, where: str) -> None:
        sent = self.query(
            "SELECT incident_id, data FROM timeline WHERE kind = 'reminder_sent' ORDER BY id"
        )
        for incident in self.open_incidents():
            recorded = [r for r in sent if r["incident_id"] == incident["id"]]
            keys = [
                (m.get("metadata") or {}).get("event_payload", {}).get("key", "")
                for m in self.slack.messages(incident["channel_id"])
            ]
            posted = Counter(k for k in keys if ":reminder:" in k)
            assert all(n == 1 for n in posted.values()), (where, incident["id"], posted)
            assert len(posted) == len(recorded), (where, incident["id"], posted, recorded)


OPERATIONS = ("declare", "update", "finish_hotfix", "deploy")


@pytest.mark.timeout(900)
def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    slack: SlackEmulator, world: GitWorld, target: DeployTarget, tmp_path: Path
) -> None:
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    chaos = Chaos(slack=slack, world=world, target=target, tmp=tmp_path)
    try:
        chaos.declare(lambda: None)
        chaos.check("start")
        for iteration in range(ITERATIONS):
            operation = OPERATIONS[iteration % len(OPERATIONS)]
            if chaos.rng.random() < 0.75:
                index = chaos.rng.randint(1, 14)
                phase = chaos.rng.choice(["before", "after"])
                point = f"Slack call {index} ({phase})"

                def crash(i: int = index, p: str = phase) -> None:
                    chaos.crash_at_slack_call(i, p)
            else:
                delay = chaos.rng.uniform(0.0, 0.5)
                point = f"{delay * 1000:.0f} ms in"

                def crash(d: float = delay) -> None:
                    threading.Timer(d, chaos._kill_from_hook).start()

            where = f"iteration {iteration} (seed {SEED}): {operation}, killed at {point}"
            getattr(chaos, operation)(crash)
            chaos.restart()
            chaos.check(where)
            chaos.advance_time()  # with the bot idle: reminders fall due, nothing journaled ages
        chaos.settle_deployments()
        chaos.check("end")
        assert chaos.kills >= 50 or ITERATIONS < 50
    finally:
        chaos.slack.call_hook = None
        chaos.bot.stop()
