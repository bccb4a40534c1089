"""The canary section of the deployment card as data (services/deploy/canary_card.py): what
the templates present, computed from the stored CanaryState, old rows included."""

from __future__ import annotations

from typing import Any

from services.deploy import canary_card
from services.deploy.live import CanaryState, Phase

STAGE = {
    "phase": "stage",
    "stage": 1,
    "stages": [10, 25, 50, 75, 100],
    "weight": 25,
    "canary_version": "v2.1.1",
    "stable_version": "v2.1.0",
    "time_left_seconds": 245,
    "metrics": [{"name": "error-rate", "value": "0.001", "condition": "> 0.05", "outcome": "pass"}],
}


def section(**changes: Any) -> dict[str, Any]:
    shown = canary_card.section("canary", {"canary": {**STAGE, **changes}})
    assert shown is not None
    return shown


def test_a_stage_shows_both_sides_the_stage_and_the_time_left() -> None:
    shown = section()
    assert (shown["weight"], shown["stable_weight"]) == (25, 75)
    assert (shown["stage_number"], shown["stage_count"]) == (2, 5)
    assert shown["time_left"] == "4 min 05 s"
    assert shown["hold"] is None
    assert shown["metrics"] == [
        {
            "name": "error-rate",
            "value": "0.001",
            "condition": "> 0.05",
            "outcome": "pass",
            "reason": "",
        }
    ]


def test_a_held_canary_says_why_and_shows_no_countdown() -> None:
    waiting = section(waiting=True, paused=False, pause_reason="inconclusive: no data")
    assert waiting["hold"] == "waiting" and waiting["time_left"] is None
    assert waiting["pause_reason"] == "inconclusive: no data"
    assert section(paused=True)["hold"] == "paused"
    assert section(paused=True)["time_left"] is None
    promoting = section(promote_requested=True)
    assert promoting["hold"] == "promoting" and promoting["time_left"] == "4 min 05 s"


def test_no_section_for_other_strategies_or_before_the_first_report() -> None:
    assert canary_card.section("rolling", {"canary": STAGE}) is None
    assert canary_card.section("canary", {}) is None


def test_the_section_is_the_typed_state_s() -> None:
    state = CanaryState.from_data(STAGE).changed(
        phase=Phase.DONE, promoted_by_person=True, last_drift="found 100/0, set 75/25"
    )
    shown = canary_card.section("canary", {"canary": state.as_data()})
    assert shown is not None
    assert shown["phase"] == "done" and shown["promoted_by_person"] is True
    assert shown["drift"] == "found 100/0, set 75/25"
