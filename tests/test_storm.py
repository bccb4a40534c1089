"""A storm: 50 incidents declared at once against a Slack that enforces its rate limits.

Every war room is completed (channel, invites, topic, bookmarks, header,
announcement, escalation, playbook), no step fails, and no method is ever
admitted past its tier. Slack's minutes run on a scaled clock shared by the
bot and the emulator (tests/harness/storm.py), so a storm that needs four
minutes of Slack's time takes seconds here; nothing waits on the wall clock
beyond generous deadlines, so a busy machine only makes it slower.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services import timeline
from services.incidents import records
from tests.harness.storm import ANNOUNCE, ESCALATE, storm

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INCIDENTS = 50
SCALE = 30.0  # one emulated minute is two wall-clock seconds


def test_fifty_incidents_at_once_all_get_complete_war_rooms_within_slacks_limits(
    tmp_path: Path,
) -> None:
    with storm(tmp_path, scale=SCALE) as run:
        run.declare(INCIDENTS, timeout=300)
        store, slack = run.bot.deps.store, run.slack

        incidents = records.open_incidents(store)
        assert len(incidents) == INCIDENTS
        rooms = set()
        for declared in incidents:
            incident = records.get(store, declared.id)
            room = incident.channel_id
            assert room is not None, incident.id
            rooms.add(room)
            assert set(slack.members(room)) == {"UBOT", "U0ALICE", "U0BOB", "U0DAVE"}, incident.id
            assert slack.channel(room)["topic"]["value"].startswith("SEV1")  # type: ignore[index]
            assert [b["title"] for b in slack.bookmarks(room)] == ["Runbook", "Dashboard"]
            assert incident.header_ts and incident.playbook_ts and incident.announcement_ts
            kinds = [e.kind for e in timeline.events(store, incident_id=incident.id)]
            assert "step_failed" not in kinds, incident.id
            assert {"war_room_created", "announced", "escalated"} <= set(kinds), incident.id
            row = store.query_one(
                "SELECT war_room_done_at FROM incidents WHERE id = ?", (incident.id,)
            )
            assert row is not None and row["war_room_done_at"], incident.id
        assert len(rooms) == INCIDENTS
        assert len(slack.messages(ANNOUNCE)) == INCIDENTS
        assert len(slack.messages(ESCALATE)) == INCIDENTS
        # One invite per war room, and each declarer told it is done, without a warning.
        assert len([c for c in slack.calls_to("conversations.invite") if c.ok]) == INCIDENTS
        for answer in run.answers:
            (reply,) = slack.responses(str(answer.response_id))
            assert reply["text"].endswith("declared."), reply
            assert ":warning:" not in str(reply)

        # No method was let through past its tier, and the storm could not beat the limits.
        assert run.over_limit() == []
        assert run.finished() >= run.minimum() > 0
