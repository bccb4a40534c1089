"""--duration as people type it, and the samples a verification takes."""

from __future__ import annotations

import pytest

from services.pipeline.verify import DurationError, expected_samples, parse_duration
from services.pipeline.verify_card import seconds_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [("90s", 90), ("5m", 300), ("1h", 3600), ("45", 45), (" 5M ", 300), ("10s", 10), ("60m", 3600)],
)
def test_durations_people_type(typed: str, seconds: float) -> None:
    assert parse_duration(typed) == seconds


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("9s", "out of range"),
        ("0", "out of range"),
        ("61m", "out of range"),
        ("2h", "out of range"),
        ("1h30m", "is not a duration"),
        ("5 m", "is not a duration"),
        ("-5m", "is not a duration"),
        ("5.5m", "is not a duration"),
        ("", "is not a duration"),
        ("99999999999h", "is not a duration"),
        ("\u202e5m", "is not a duration"),
    ],
)
def test_what_is_not_a_duration_is_said(typed: str, says: str) -> None:
    with pytest.raises(DurationError, match=says) as refused:
        parse_duration(typed)
    assert "90s, 5m, 1h" in refused.value.message or "10 s to 1 h" in refused.value.message


def test_a_hostile_duration_is_not_echoed_whole() -> None:
    with pytest.raises(DurationError) as refused:
        parse_duration("<!channel>" + "a" * 10_000)
    assert len(refused.value.message) < 200


@pytest.mark.parametrize(
    ("seconds", "interval", "samples"), [(300, 10, 31), (30, 10, 4), (15, 10, 3), (10, 10, 2)]
)
def test_one_sample_at_the_start_then_one_per_interval(
    seconds: float, interval: float, samples: int
) -> None:
    assert expected_samples(seconds, interval) == samples


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45, "45 s"), (90, "1 min 30 s"), (300, "5 min"), (3600, "1 h"), (-3, "0 s")],
)
def test_time_as_the_card_says_it(seconds: float, text: str) -> None:
    assert seconds_text(seconds) == text
