"""Every template, fed hostile and oversized values, still renders what Slack accepts.

The templates are discovered from the templates directory, and each one must have
sample data here: a new template without samples fails `test_every_template_has_samples`,
so none escapes these checks. The limits are checked by the Slack emulator's own
Block Kit checker (tests/harness/block_kit.py, written from Slack's reference) and by
slack_sdk's `validate_json()`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from handlers.core.block_limits import cut_visible
from handlers.core.form_limits import LIMITS
from handlers.core.rendering import SHIPPED_TEMPLATES, SUFFIX, Renderer
from handlers.core.replies import Reply
from services.clock import parse_iso
from services.deploy.card import present
from services.deploy.model import Deployment, Kind, State
from services.git.results import (
    CommitInfo,
    HotfixBranchStatus,
    HotfixCreated,
    HotfixFinished,
)
from services.hotfix import AlreadyFinished
from services.settings import PlaybookPhase
from tests.harness.block_kit import block_errors

pytestmark = [pytest.mark.unit, pytest.mark.slow]

JSON = dict[str, Any]

# What people can type: mentions, links, an entity, a bidi override, newlines, and a lot of it.
INJECTIONS = ("<!channel>", "<!here>", "<@U1>", "<https://evil.example|x>", "<!subteam^S1>")
HOSTILE = (
    "Checkout <!channel> <!here> <@U1> <https://evil.example|x> <!subteam^S1> &amp; \u202eevil\n"
    "- item: {x} \"quoted\" 'single' # not a comment\n"
)
BIG = HOSTILE + "A" * 10_000  # 10 KB of one value
WHEN = "2026-03-14T09:26:53+00:00"
LATER = "2026-03-14T11:26:53+00:00"


def incident(*, is_open: bool = True, value: str = BIG) -> JSON:
    return {
        "id": "INC-7",
        "title": value,
        "severity": "sev1",
        "severity_label": "SEV1",
        "severity_meaning": value,
        "status": "identified",
        "status_label": "Identified",
        "impact": value,
        "description": value,
        "commander": value,
        "scribe": value,
        "comms": value,
        "declared_by": "U0ALICE",
        "channel_id": "C0ROOM",
        "channel_name": value,
        "eta": value,
        "root_cause": value,
        "declared_at": WHEN,
        "acknowledged_at": WHEN,
        "mitigated_at": None,
        "resolved_at": None if is_open else LATER,
        "next_update_due_at": LATER if is_open else None,
        "age": "2 h 0 min",
        "is_open": is_open,
        "services": [value, "payments"],
        # A configured link (validated as a URL template) with what a URL may carry.
        "call_link": "https://zoom.us/j/7?pwd=a&b=<x>*bold*_i_" + "9" * 3000,
    }


def presented(
    state: str = "requested",
    *,
    strategy: str = "rolling",
    detail: Any = None,
    kind: Kind = Kind.DEPLOY,
    approvals_required: int = 2,
) -> JSON:
    """The card's data as services.deploy.card presents it, with hostile values throughout."""
    deployment = Deployment(
        number=3,
        id="DEP-3",
        kind=kind,
        incident_id="INC-7",
        service=BIG,
        environment=BIG,
        version=BIG,
        strategy=strategy,
        backend="kubernetes",
        state=State(state),
        requested_by=BIG,
        requested_at=parse_iso(WHEN),
        channel_id="C0ROOM",
        card_ts=None,
        approvals_required=approvals_required,
        expires_at=parse_iso(LATER),
        break_glass=True,
        verify=True,
        notify_stakeholders=False,
        before={"summary": BIG},
        # What was inferred for flags left out, --preserve-data, an unchecked version.
        detail={"inferred": [BIG, BIG], "version_check": BIG, **(detail or {})},
        abort_requested=False,
        finished_at=None,
    )
    return present(deployment, steps=[], decisions=[], now=parse_iso(LATER)).as_data()


def deployment(state: str = "requested", *, strategy: str = "rolling", detail: Any = None) -> JSON:
    return dict(presented(state, strategy=strategy, detail=detail)["deployment"])


def canary(phase: str = "stage", **extra: Any) -> JSON:
    return {
        "phase": phase,
        "canary_deployment": BIG,
        "stable_deployment": BIG,
        "canary_version": BIG,
        "stable_version": BIG,
        "weight": 20,
        "stage": 1,
        "stages": [20, 50],
        "time_left_seconds": 95,
        "pause_reason": BIG,
        "aborted": BIG,
        "metrics": [
            {"name": BIG, "value": BIG, "condition": BIG, "outcome": "fail"} for _ in range(30)
        ],
        "drift_corrections": 2,
        "last_drift": BIG,
        **extra,
    }


def card(state: str, **deploy: Any) -> JSON:
    steps = [
        {"name": BIG, "state": s, "duration": "1 min", "seconds": 61.0, "detail": BIG, "tail": BIG}
        for s in ("ok", "failed", "running", "pending", "skipped")
    ]
    approvals = [{"approver": BIG, "decision": "approve"} for _ in range(20)]
    return {
        **presented(state, **deploy),
        "steps": steps,
        "progress": {"done": 2, "total": 5, "bar": "▰▰▱▱▱"},
        "approvals": approvals,
        "rejections": approvals,
    }


def immediate_rollback() -> JSON:
    return {
        **presented("rolled_back", kind=Kind.ROLLBACK, approvals_required=0),
        "approvals": [],
        "rejections": [],
    }


COMMAND = {
    "path": BIG,
    "summary": BIG,
    "help": BIG,
    "usage": BIG,
    "example": BIG,
    "options": [{"flags": BIG, "help": BIG}],
}
COMMIT = CommitInfo(
    sha="a" * 40,
    subject=BIG,
    author_name=BIG,
    author_email=BIG,
    authored_at=datetime(2026, 3, 14, tzinfo=UTC),
)
CREATED = HotfixCreated(
    issue_key="PROD-1",
    branch=BIG,
    branch_model="gitflow",
    remote=BIG,
    base_ref=BIG,
    base_sha="b" * 40,
    baseline_tag=BIG,
    baseline_sha="c" * 40,
    next_version="2.1.1",
    next_tag=BIG,
    issue_url="https://jira.example/browse/PROD-1?a=1&b=2",
    severity="sev1",
    pushed_refs=(),
)
FINISHED = HotfixFinished(
    issue_key="PROD-1",
    branch=BIG,
    branch_model="gitflow",
    remote=BIG,
    version="2.1.1",
    tag=BIG,
    tag_sha="d" * 40,
    tagged_sha="e" * 40,
    baseline_tag=BIG,
    hotfix_sha="f" * 40,
    hotfix_commits=(),
    production_branch=BIG,
    production_old_sha="1" * 40,
    production_new_sha="2" * 40,
    production_merge_sha="3" * 40,
    development_branch=BIG,
    development_old_sha="4" * 40,
    development_new_sha="5" * 40,
    development_merge_sha="6" * 40,
    cherry_picked=(),
    pushed_refs=(),
    branch_deleted=True,
    issue_url=None,
    severity=None,
    incident_id="INC-7",
)
BRANCH = HotfixBranchStatus(
    issue_key="PROD-1",
    branch=BIG,
    sha="7" * 40,
    ahead=1,
    behind=2,
    last_commit=COMMIT,
    merged_into_production=False,
    finished_tag=BIG,
    issue_url=None,
)

# Sample data per template: several variants where a template branches on state.
SAMPLES: dict[str, list[JSON]] = {
    "audit": [
        {
            "entries": [
                {
                    "id": 1,
                    "at": WHEN,
                    "actor": BIG,
                    "action": BIG,
                    "outcome": "refused",
                    "detail": BIG,
                }
            ]
            * 60,
            "user": BIG,
            "outcome": BIG,
            "zone": "UTC",
            "older": None,
        },
        {
            "entries": [
                {
                    "id": 9_999_999,
                    "at": WHEN,
                    "actor": BIG,
                    "action": BIG,
                    "outcome": "ok",
                    "detail": BIG,
                }
            ]
            * 45,
            "user": BIG,
            "outcome": None,
            "zone": "UTC",
            "older": "/hotfix audit --user " + BIG + " --before 12",
        },
    ],
    "deploy_ack": [
        {**card("requested"), "text": BIG, "problems": [BIG] * 3},
        {**card("requested"), "text": BIG, "problems": [], "cancel_button": True},
        {**card("requested"), "text": BIG, "problems": [BIG], "card_home": "C0DEPLOYS"},
        {**card("requested"), "text": BIG, "problems": [], "card_home": "D0DM"},
        {
            **card("requested"),
            "text": BIG,
            "problems": [],
            "card_home": "D0DM",
            "card_home_is_yours": False,
        },
    ],
    "deploy_list": [
        {
            "deployments": [deployment(state) for state in ("requested", "failed")] * 20,
            "filters": {"service": BIG, "target": BIG, "state": BIG},
            "more": BIG,
            "prog": "/hotfix",
        },
        {"deployments": [], "filters": {}, "more": None, "prog": "/hotfix"},
    ],
    "deploy_status": [
        {**card("requested"), "next": [BIG] * 3, "prog": "/hotfix", "card_channel": "C0ROOM"},
        {
            **card("deploying", strategy="canary", detail={"canary": canary(waiting=True)}),
            "next": [],
            "prog": "/hotfix",
            "card_channel": None,
        },
        {
            **card("deploying", strategy="canary", detail={"canary": canary(paused=True)}),
            "next": ["deploy resume DEP-3"],
            "prog": "/hotfix",
            "card_channel": "console:terminal",
        },
    ],
    "deploy_card": [
        card("requested"),
        card("interrupted"),
        card("succeeded"),
        card("rollback_skipped"),
        card("failed"),
        # Break-glass skips and a failed database rollback: loud lines, hostile text.
        card(
            "failed",
            detail={
                "gates_skipped": [{"gate": "requires", "reason": BIG, "command": BIG}] * 5,
                "manual_intervention": {"error": BIG, "snapshot": BIG},
            },
        ),
        immediate_rollback(),
        card("cancelled", detail={"cancelled": {"by": BIG, "superseded_by": None}}),
        card("cancelled", detail={"cancelled": {"by": BIG, "superseded_by": BIG}}),
        card("deploying", strategy="canary", detail={"canary": canary(waiting=True)}),
        card("deploying", strategy="canary", detail={"canary": canary(paused=True)}),
        card("deploying", strategy="canary", detail={"canary": canary("starting")}),
        card("failed", strategy="canary", detail={"canary": canary("aborted")}),
        # An Argo blue-green Rollout reports the same live state: waiting before the switch,
        # switching, promoted, aborted.
        card("deploying", strategy="blue-green", detail={"canary": canary(waiting=True)}),
        card("deploying", strategy="blue-green", detail={"canary": canary(weight=100)}),
        card("succeeded", strategy="blue-green", detail={"canary": canary("done")}),
        card("failed", strategy="blue-green", detail={"canary": canary("aborted")}),
    ],
    "deploy_escalation": [
        {
            "deployment": deployment("failed"),
            "people": [BIG, "U0ALICE", "S0ONCALL"],
            "error": BIG,
            "reason": BIG,
        }
    ],
    "deploy_failed": [
        {"deployment": deployment("failed"), "error": BIG, "hint": BIG, "rolling_back": True}
    ],
    "deploy_hook_failed": [{"deployment": deployment("succeeded"), "hook": BIG, "error": BIG}],
    "deploy_manual_intervention": [
        {
            "deployment": deployment("failed"),
            "people": [BIG, "U0ALICE", "S0ONCALL"],
            "error": BIG,
            "reason": BIG,
            "snapshot": BIG,
        }
    ],
    "deploy_outcome": [{"deployment": deployment("rolled_back")}],
    "error": [{"message": BIG, "hint": BIG, "error_id": BIG}],
    "escalation": [{"incident": incident(), "usergroup": "S0EXEC", "reason": BIG}],
    "flow_problems": [{"incident_id": BIG, "problems": [BIG] * 5}],
    "help": [
        {"commands": [COMMAND] * 60, "detailed": False, "summary": BIG},
        {"commands": [COMMAND], "detailed": True, "summary": BIG},
    ],
    "home": [{"incidents": [incident()] * 45, "prog": BIG, "commands": [COMMAND] * 60}],
    "hotfix_already_finished": [
        {"service": BIG, "done": AlreadyFinished(issue_key="PROD-1", tag=BIG)}
    ],
    "hotfix_created": [
        {
            "created": CREATED,
            "service": BIG,
            "actor": BIG,
            "incident": incident(),
            "offer_declare": True,
            "declare_title": BIG,
            "problems": [BIG],
        }
    ],
    "hotfix_finished": [
        {
            "finished": FINISHED,
            "service": BIG,
            "actor": BIG,
            "incident": incident(),
            "problems": [BIG],
        }
    ],
    "hotfix_status": [{"service": BIG, "branches": [BRANCH] * 5}],
    "incident_ack": [{"incident": incident(), "text": BIG, "problems": [BIG] * 3}],
    "incident_announcement": [{"incident": incident()}, {"incident": incident(is_open=False)}],
    "incident_header": [
        {"incident": incident()},
        {"incident": incident(is_open=False)},
        {"incident": incident(), "publishable": True},
    ],
    "incident_list": [{"incidents": [incident()] * 60}],
    "modal_declare": [
        {
            "origin_channel_id": "C0GENERAL",
            "limits": LIMITS,
            "title": BIG,
            "severities": [{"value": "sev1", "label": BIG, "meaning": BIG}],
            "services": [BIG, "payments"] * 50,
        },
        {
            "origin_channel_id": None,
            "limits": LIMITS,
            "title": "",
            "severities": [{"value": "sev1", "label": "SEV1", "meaning": "Critical"}],
            "services": [],
        },
    ],
    "modal_publish": [
        {
            "origin_channel_id": None,
            "limits": LIMITS,
            "incident": incident(),
            "statuses": ["investigating", "identified", "monitoring"],
            "status": "identified",
            "status_label": BIG,
            "text": BIG,
        }
    ],
    "modal_resolve": [{"origin_channel_id": None, "limits": LIMITS, "incident": incident()}],
    "modal_update": [
        {
            "origin_channel_id": None,
            "limits": LIMITS,
            "incident": incident(),
            "statuses": ["identified", "monitoring"],
        }
    ],
    "outbox_summary": [{"count": 3, "since": WHEN}],
    "plain": [{"text": BIG}],
    "playbook": [
        {
            "incident": incident(),
            "phases": [
                {
                    "phase": BIG,
                    "items": [{"text": BIG, "item_id": f"i{n}", "done_by": BIG} for n in range(12)],
                }
            ]
            * 3,
        }
    ],
    "postmortem_reminder": [{"incident": incident()}],
    "reminder": [{"incident": incident(), "missed": 3, "snooze_minutes": 15}],
    "reminder_escalation": [
        {"incident": incident(), "responders": [BIG, "U0BOB", "S0ONCALL"], "missed": 3}
    ],
    "resolution_notice": [
        {
            "incident": incident(is_open=False),
            "resolution": BIG,
            "action_items": [{"text": BIG, "owner": BIG}] * 5,
            "author": BIG,
            "public": BIG,
        }
    ],
    "role_assigned": [
        {"incident": incident(), "role": "commander", "role_label": "commander", "assigned_by": BIG}
    ],
    "paged": [
        {
            "incident": incident(),
            "actor": BIG,
            "people": [BIG, "U0DAVE"] * 30,
            "services": [BIG] * 30,
            "message": BIG,
        },
        {"incident": incident(), "actor": "U0ALICE", "people": [], "services": [], "message": ""},
    ],
    "severity_changed": [{"incident": incident(), "old_severity": BIG, "author": BIG}],
    "status_update": [
        {
            "incident": incident(),
            "old_status": "investigating",
            "message": BIG,
            "author": BIG,
            "public": BIG,
        },
        {
            "incident": incident(),
            "old_status": "identified",
            "message": "",
            "author": "U0ALICE",
            "public": "",
        },
    ],
    "timeline": [
        {
            "incident": incident(),
            "omitted": 3,
            "zone": "Europe/Berlin",
            "events": [{"at": WHEN, "when": BIG, "actor": BIG, "who": BIG, "text": BIG}] * 40,
        }
    ],
    "usage_error": [{"message": BIG, "usage": BIG, "example": BIG, "help_path": BIG, "prog": BIG}],
    "verify_card": [
        {
            "notice": BIG,
            "verify": {
                "id": "VER-1",
                "service": BIG,
                "environment": BIG,
                "group": BIG,
                "version": BIG,
                "state": state,
                "outcome": outcome,
                "final": state != "running",
                "requested_by": BIG,
                "incident_id": BIG,
                "duration": "5 min",
                "samples": 3,
                "expected": 31,
                "time_left": "4 min 30 s",
                "auto_rollback": True,
                "summary": BIG,
                "inferred": [BIG] * 3,
                "endpoints": [
                    {"url": BIG, "state": "failed", "status": 503, "latency_ms": 12, "problem": BIG}
                ]
                * 15,
                "endpoints_more": 40,
                "metrics": [
                    {"name": BIG, "condition": BIG, "value": BIG, "state": "fail", "reason": BIG}
                ]
                * 15,
                "metrics_more": 3,
                "rollback": rollback,
                "advice": BIG,
                "interrupted_rollback": BIG if state == "interrupted" else None,
            },
        }
        for state, outcome, rollback in (
            ("running", None, None),
            ("failed", "failed", {"deployment_id": "DEP-2", "channel_id": "C0ROOM", "text": BIG}),
            ("failed", "failed", {"deployment_id": None, "text": BIG}),
            ("interrupted", None, None),
        )
    ],
}


def validation(state: str = "failed", checks: int = 60) -> JSON:
    """A validate run's card data (services.pipeline.validate_card), every text hostile."""
    row = {"name": BIG, "builtin": True, "state": "failed", "seconds": 1.5, "summary": BIG}
    return {
        "run": {
            "id": "VAL-3",
            "title": BIG,
            "service": BIG,
            "environment": BIG,
            "version": BIG,
            "suite": BIG,
            "state": state,
            "state_label": BIG,
            "final": state != "running",
            "requested_by": BIG,
            "incident_id": BIG,
            "summary": BIG,
            "inferred": [BIG] * 3,
            "running_version": BIG,
            "version_warning": BIG,
        },
        "checks": [{**row, "tail": BIG}] * checks,
        "progress": {"done": 3, "total": checks},
    }


SAMPLES["validate_card"] = [validation(), validation("running", 0), validation("passed", 1)]
SAMPLES["validate_ack"] = [
    {**validation(), "text": BIG, "problems": [BIG] * 3, "card_home": "C0ROOM"},
    {**validation("running", 2), "text": BIG, "problems": [], "card_home": None},
]

CASES = [(name, n) for name, variants in sorted(SAMPLES.items()) for n in range(len(variants))]
VIEWS = {"home", "modal_declare", "modal_publish", "modal_resolve", "modal_update"}


def shipped_templates() -> set[str]:
    return {p.name.removesuffix(SUFFIX) for p in SHIPPED_TEMPLATES.glob("*" + SUFFIX)}


def render(name: str, data: JSON, renderer: Renderer | None = None) -> tuple[str | None, JSON]:
    """(fallback text, Block Kit document) as the bot would send it."""
    renderer = renderer or Renderer()
    if name in VIEWS:
        return None, renderer.render_data(name, data)
    message = renderer.render(Reply(name, data))
    return message.text, {"blocks": message.blocks}


def texts(node: Any, *, kinds: tuple[str, ...] = ("mrkdwn",)) -> list[str]:
    """Every text of text objects of these kinds, and every form's initial value if
    plain_text is among them: mrkdwn alone is what Slack parses for mentions and links."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") in kinds and isinstance(node.get("text"), str):
            found.append(node["text"])
        if "plain_text" in kinds and isinstance(node.get("initial_value"), str):
            found.append(node["initial_value"])
        for value in node.values():
            found.extend(texts(value, kinds=kinds))
    elif isinstance(node, list):
        for value in node:
            found.extend(texts(value, kinds=kinds))
    return found


def test_every_template_has_samples() -> None:
    assert shipped_templates() == set(SAMPLES)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_hostile_values_are_escaped_in_blocks_and_in_the_fallback_text(
    name: str, variant: int
) -> None:
    text, document = render(name, SAMPLES[name][variant])
    parsed = texts(document) + ([text] if text is not None else [])
    for piece in parsed:
        for injection in INJECTIONS:
            assert injection not in piece, (name, injection, piece[:300])


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_hostile_values_keep_every_block_kit_limit(name: str, variant: int) -> None:
    text, document = render(name, SAMPLES[name][variant])
    blocks = document["blocks"]
    limit = 100 if name in VIEWS else 50
    assert block_errors(blocks, limit=limit, pointer="/blocks") == []
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    if text is not None:
        assert 0 < len(text) <= 40_000
    if document.get("type") == "modal":
        for key in ("title", "submit", "close"):
            assert len(document[key]["text"]) <= 24
        assert len(document.get("private_metadata") or "") <= 3000
        for block in blocks:
            element = block.get("element") or {}
            if element.get("type") == "plain_text_input":
                assert 1 <= element["max_length"] <= 3000, block
                assert len(element.get("initial_value") or "") <= element["max_length"]


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_cut_text_says_so(name: str, variant: int) -> None:
    """User text is cut visibly (…), never silently."""
    _, document = render(name, SAMPLES[name][variant])
    for text in texts(document["blocks"], kinds=("mrkdwn", "plain_text")):
        assert "A" * 10_000 not in text
        if "AAAAAAAAAA" in text:  # a piece of a 10 KB value: it must say it was cut
            assert "…" in text or "..." in text, text[-200:]


def test_an_override_that_forgets_to_escape_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "error.yml.j2").write_text(
        "text: {{ ('Custom: ' ~ message) | q }}\n"
        "blocks:\n"
        "  - type: section\n"
        "    text: {type: mrkdwn, text: {{ ('*Oops* ' ~ message ~ ' <#C0ROOM>') | q }}}\n"
        "  - type: section\n"
        "    fields:\n"
        "      - {type: mrkdwn, text: {{ message | q }}}\n"
    )
    renderer = Renderer(override_dir=tmp_path)
    message = renderer.render(Reply("error", {"message": "<!channel> & <@U1> " + "x" * 5000}))
    assert message.text.startswith("Custom: &lt;!channel&gt; &amp; &lt;@U1&gt; x")
    body = message.blocks[0]["text"]["text"]
    # Template-authored markup stays; the person's text is escaped and cut visibly.
    assert body.startswith("*Oops* &lt;!channel&gt; &amp; &lt;@U1&gt; xxx")
    assert body.endswith("…") and len(body) <= 3000
    field = message.blocks[1]["fields"][0]["text"]
    assert field.endswith("…") and len(field) <= 2000


def test_a_mention_from_the_mention_filter_survives_escaping() -> None:
    message = Renderer().render(
        Reply("status_update", SAMPLES["status_update"][0] | {"author": "U0ALICE"})
    )
    assert "Posted by <@U0ALICE>" in json.dumps(message.blocks)


def test_plain_text_and_values_carry_the_text_as_typed() -> None:
    """plain_text is never parsed by Slack, and values come back to the bot as sent."""
    title = "A & B <c>"
    view = Renderer().render_data(
        "modal_declare",
        {
            "origin_channel_id": "C0GENERAL",
            "limits": LIMITS,
            "title": title,
            "severities": [],
            "services": [],
        },
    )
    (title_block,) = [b for b in view["blocks"] if b.get("block_id") == "title"]
    assert title_block["element"]["initial_value"] == title
    data = SAMPLES["hotfix_created"][0] | {"declare_title": "PROD-1: A & B <c>"}
    message = Renderer().render(Reply("hotfix_created", data))
    (button,) = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["value"] == "PROD-1: A & B <c>"


def test_a_playbook_phase_longer_than_one_checkbox_group_is_refused_at_start() -> None:
    """Slack's checkboxes hold 10 options: an 11th item would silently vanish from the card."""
    PlaybookPhase(phase="Immediate", items=["x"] * 10)
    with pytest.raises(ValueError, match="at most 10 items"):
        PlaybookPhase(phase="Immediate", items=["x"] * 11)


def test_a_cut_never_splits_an_entity_or_a_mention() -> None:
    assert cut_visible("ab &amp; cd", 6) == "ab …"
    assert cut_visible("hi <@U0ALICE> there", 8) == "hi …"
    assert cut_visible("short", 5) == "short"
