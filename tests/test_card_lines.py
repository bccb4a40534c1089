"""Every state of the deployment card keeps one item per line, in Slack and in the console.

The card is read at 3 a.m.: a line like `… stage 1/4⚠️ *Waiting for a decision:* …` (two
items glued together because a template tag ate the newline) is what this guards
against. Each deploy state and each canary phase is rendered; every step, metric and
canary notice must sit on its own line, and no emoji may be glued to a word before it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from handlers.console.text import EMOJI, to_console
from handlers.core.rendering import RenderedMessage, Renderer
from handlers.core.replies import Reply
from services.clock import parse_iso
from services.deploy.card import present
from services.deploy.model import Deployment, Kind, State

pytestmark = [pytest.mark.unit, pytest.mark.slow]

JSON = dict[str, Any]
WHEN = "2026-03-14T09:26:53+00:00"
LATER = "2026-03-14T11:26:53+00:00"
STEP_NAMES = ("validate", "backup", "deploy", "verify")
METRICS = ("requests", "error-rate", "p95")

# A shortcode Slack turns into an emoji, right after a letter, digit or punctuation mark.
GLUED_SHORTCODE = re.compile(r"[^\s(]:(" + "|".join(map(re.escape, EMOJI)) + r"):")
GLUED_EMOJI = re.compile(r"[^\s(](" + "|".join(re.escape(e[0]) for e in EMOJI.values()) + ")")


def deployment(state: str, *, strategy: str = "rolling", detail: JSON | None = None) -> Deployment:
    return Deployment(
        number=4,
        id="DEP-4",
        kind=Kind.DEPLOY,
        incident_id="INC-4",
        service="payments",
        environment="production",
        version="v2.1.2",
        strategy=strategy,
        backend="kubernetes",
        state=State(state),
        requested_by="U0ALICE",
        requested_at=parse_iso(WHEN),
        channel_id="C0ROOM",
        card_ts=None,
        approvals_required=1,
        expires_at=parse_iso(LATER),
        break_glass=False,
        verify=True,
        notify_stakeholders=False,
        before={"summary": "payments runs v2.1.1", "version": "v2.1.1"},
        # What the request inferred or noted (the card's data since the runbook work).
        detail={"inferred": ["service inferred: the incident's hotfix"], **(detail or {})},
        abort_requested=False,
        finished_at=None,
    )


def canary(phase: str, **extra: Any) -> JSON:
    return {
        "phase": phase,
        "canary_deployment": "payments-canary",
        "stable_deployment": "payments",
        "canary_version": "v2.1.2",
        "stable_version": "v2.1.1",
        "weight": 25,
        "stage": 0,
        "stages": [25, 50, 75, 100],
        "time_left_seconds": 2,
        "metrics": [
            {"name": name, "value": "0", "condition": "> 0.05", "outcome": outcome}
            for name, outcome in zip(METRICS, ("inconclusive", "pass", "pending"), strict=True)
        ],
        "drift_corrections": 1,
        "last_drift": "weights 30/70 rewritten to 25/75",
        **extra,
    }


def card(state: str, **deploy: Any) -> JSON:
    """The card's data as services.deploy.card presents it, with every kind of step line."""
    data = present(
        deployment(state, **deploy),
        steps=[],
        decisions=[{"approver": "U0BOB", "decision": "approve", "at": WHEN}],
        now=parse_iso(LATER),
    ).as_data()
    data["steps"] = [
        {
            "name": name,
            "state": s,
            "duration": "1 min",
            "seconds": 61.0,
            "detail": f"{name} said so",
            "tail": "error: exit 1\n:x: boom" if s == "failed" else "",
        }
        for name, s in zip(STEP_NAMES, ("ok", "failed", "running", "pending"), strict=True)
    ]
    data["progress"] = {"done": 1, "total": 4, "bar": "▰▱▱▱"}
    return data


CANARY_VARIANTS: dict[str, JSON] = {
    "starting": canary("starting"),
    "stage": canary("stage"),
    "stage-waiting": canary("stage", waiting=True, pause_reason="too little traffic"),
    "stage-paused": canary("stage", paused=True, pause_reason="by U0BOB"),
    "stage-promote": canary("stage", promote_requested=True),
    "promoting": canary("promoting"),
    "finishing": canary("finishing"),
    "done": canary("done", promoted_by_person=True),
    "aborted": canary("aborted", aborted="error-rate failed"),
}
CASES = [(state.value, None) for state in State] + [
    (state, variant)
    for variant in CANARY_VARIANTS
    for state in ("deploying", "verifying", "failed", "rolled_back")
]


def rendered(state: str, variant: str | None) -> RenderedMessage:
    if variant is None:
        data = card(state)
    else:
        data = card(state, strategy="canary", detail={"canary": CANARY_VARIANTS[variant]})
    return Renderer().render(Reply("deploy_card", data))


def slack_texts(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            found.append(node["text"])
        for value in node.values():
            found.extend(slack_texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(slack_texts(value))
    return found


def lines_of(texts: list[str]) -> list[str]:
    return [line for text in texts for line in text.splitlines()]


def unmarked(line: str) -> str:
    """The line without Slack's emphasis and code marks (the console may print them or not)."""
    return line.replace("*", "").replace("`", "")


def check_structure(lines: list[str], *, glued: re.Pattern[str], variant: str | None) -> None:
    lines = [unmarked(line) for line in lines]
    for line in lines:
        assert not glued.search(line), f"emoji glued to the text before it: {line!r}"
    for name in STEP_NAMES:
        assert len([ln for ln in lines if f" {name} (" in ln]) == 1, (name, lines)
    if variant is None:
        return
    for metric in METRICS:
        metric_lines = [ln for ln in lines if re.search(rf"(^|\s){re.escape(metric)}\s", ln)]
        assert len(metric_lines) == 1, (metric, lines)
    notices = ("Waiting for a decision", "Paused", "Promotion requested", "drift corrected")
    for line in lines:
        found = [n for n in notices if n in line]
        assert len(found) <= 1, f"two items on one line: {line!r}"
        for notice in found:
            before = line.split(notice)[0]
            assert "Canary" not in before and not any(m in before for m in METRICS), line


@pytest.mark.parametrize(("state", "variant"), CASES)
def test_every_card_state_keeps_one_item_per_line_in_slack(state: str, variant: str | None) -> None:
    message = rendered(state, variant)
    lines = lines_of(slack_texts(message.blocks))
    check_structure(lines, glued=GLUED_SHORTCODE, variant=variant)


@pytest.mark.parametrize(("state", "variant"), CASES)
def test_every_card_state_keeps_one_item_per_line_in_the_console(
    state: str, variant: str | None
) -> None:
    lines = to_console(rendered(state, variant)).text.splitlines()
    check_structure(lines, glued=GLUED_EMOJI, variant=variant)


def test_the_live_canary_says_time_left_and_waiting_on_separate_lines() -> None:
    """The two glued lines of the issue, as the console printed them."""
    text = unmarked(to_console(rendered("deploying", "stage-waiting")).text)
    stage = next(ln for ln in text.splitlines() if "stage 1/4" in ln)
    assert stage.endswith("stage 1/4"), stage
    waiting = next(ln for ln in text.splitlines() if "Waiting for a decision" in ln)
    assert waiting.startswith("⚠️ Waiting for a decision:"), waiting
    timer = unmarked(to_console(rendered("deploying", "stage")).text).splitlines()
    left = next(ln for ln in timer if "s left" in ln)
    assert left.endswith("0 min 02 s left"), left
    assert any(ln.startswith("⚪ requests 0") for ln in timer), timer


def test_only_tag_only_lines_lose_their_newline() -> None:
    from handlers.core.line_tags import keep_line_ends

    source = (
        "{% if a %}\n"  # a tag alone: trimmed as before
        "text{% if b %} more{% endif %}\n"  # text then a tag: the newline stays
        "{# a comment #}{% set x = 1 %}\n"  # only tags and comments: trimmed
        "{% set y = {\n  'k': 1} %}\n"  # a tag that began on an earlier line: untouched
        "keep{% endif -%}\n"  # the template says what it wants
    )
    assert keep_line_ends(source) == (
        "{% if a %}\n"
        "text{% if b %} more{% endif +%}\n"
        "{# a comment #}{% set x = 1 %}\n"
        "{% set y = {\n  'k': 1} %}\n"
        "keep{% endif -%}\n"
    )


def test_a_team_override_with_an_inline_tag_keeps_its_lines(tmp_path: Any) -> None:
    (tmp_path / "plain.yml.j2").write_text(
        "{% set body %}\n"
        "first{% if text %} line{% endif %}\n"
        "second line\n"
        "{% endset %}\n"
        "text: {{ body.strip() | q }}\n"
    )
    message = Renderer(override_dir=tmp_path).render(Reply("plain", {"text": "x"}))
    assert message.text == "first line\nsecond line"
