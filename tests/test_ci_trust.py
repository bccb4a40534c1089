"""Which CI runs the bot trusts, and when the requires_ci gate calls a commit green.

A fork's run (GitHub: another head repository, or a check suite with no branch of the
repository; GitLab: a merge request pipeline from another project) is acknowledged, audited
and dropped: it never shows on a war-room message nor passes or blocks the gate. The gate is
green only when every workflow that reported finished green and each `ci.required` one
succeeded; a skipped required workflow, every run skipped, or a GitLab pipeline stopped at a
manual job stops at once instead of waiting out ci_wait_minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.wiring import build_deps, close_deps
from services.ci import events, gate, inbox, runs
from services.ci.model import CiRun, Outcome
from services.ci.watches import Subject, status
from services.clock import ManualClock
from services.settings import Settings
from services.store import Store
from tests.harness.ci_payloads import check_suite, gitlab_pipeline, workflow_run

pytestmark = pytest.mark.unit

SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
BRANCH = "hotfix/INC-42-payment-null-pointer"
WHAT = "v2.1.1 (commit 3484a3fb81)"


@pytest.fixture
def ci_settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "services": {
                "payments": {
                    "ci": {
                        "github_repository": "acme/payments",
                        "gitlab_project": "acme/payments",
                        "required": ["test"],
                    }
                }
            },
        }
    )


@pytest.fixture
def store(ci_settings: Settings, clock: ManualClock) -> Iterator[Store]:
    built = build_deps(ci_settings, clock=clock)  # a real SQLite file, migrated
    yield built.store
    close_deps(built)


def _github(event: str, payload: dict) -> CiRun:
    run = events.github_run(event, payload)
    assert run is not None
    return run


def _forks() -> list[CiRun]:
    fork_pr = workflow_run(
        "completed",
        head_repo="mallory/payments",
        head_sha=SHA,
        head_branch=BRANCH,  # the fork named its branch like the real hotfix branch
        conclusion="failure",
    )
    fork_suite = check_suite(
        "completed", head_sha=SHA, head_branch=None, status="completed", conclusion="failure"
    )
    fork_mr = gitlab_pipeline(ref=BRANCH, sha=SHA, status="failed", merge_request_from=4242)
    fork_mr["object_attributes"]["finished_at"] = "2026-03-14 09:01:13 UTC"
    gitlab = events.gitlab_run("Pipeline Hook", fork_mr)
    assert gitlab is not None
    return [_github("workflow_run", fork_pr), _github("check_suite", fork_suite), gitlab]


def test_a_forks_runs_are_acknowledged_audited_and_never_kept(
    store: Store, ci_settings: Settings, clock: ManualClock
) -> None:
    for run in _forks():
        assert run.foreign is not None
        received = inbox.receive(store, clock=clock, settings=ci_settings, run=run, sender="gh")
        assert received.service is None and not received.changed
    # Not on the hotfix branch's message, not read by the gate.
    shown = status(store, service="payments", subject=Subject(branch=BRANCH))
    assert shown["outcome"] is None and shown["runs"] == []
    assert runs.for_commit(store, service="payments", sha=SHA) == []
    rows = store.query("SELECT source, action, outcome, detail FROM audit ORDER BY id")
    assert [(r["source"], r["action"], r["outcome"]) for r in rows] == [
        ("webhook", "webhook:github", "refused"),
        ("webhook", "webhook:github", "refused"),
        ("webhook", "webhook:gitlab", "refused"),
    ]
    assert "'mallory/payments', a fork" in rows[0]["detail"]
    assert "no branch of the repository" in rows[1]["detail"]
    assert "another project (id 4242)" in rows[2]["detail"]


def test_the_repositorys_own_runs_are_still_kept(
    store: Store, ci_settings: Settings, clock: ManualClock
) -> None:
    own = [
        _github("workflow_run", workflow_run("in_progress", head_sha=SHA, head_branch=BRANCH)),
        _github(
            "check_suite",
            check_suite("requested", head_sha=SHA, head_branch=BRANCH, status="queued"),
        ),
        events.gitlab_run(
            "Pipeline Hook",
            gitlab_pipeline(ref=BRANCH, sha=SHA, status="running", merge_request_from=1),
        ),
    ]
    for run in own:
        assert run is not None and run.foreign is None
        assert inbox.receive(store, clock=clock, settings=ci_settings, run=run, sender="gh").changed
    assert len(runs.for_commit(store, service="payments", sha=SHA)) == 3


def test_unknown_repositories_are_audited_under_the_same_source(
    store: Store, ci_settings: Settings, clock: ManualClock
) -> None:
    other = _github(
        "workflow_run",
        workflow_run("in_progress", repo="someone/else", head_sha=SHA, head_branch="x"),
    )
    inbox.receive(store, clock=clock, settings=ci_settings, run=other, sender="gh")
    (row,) = store.query("SELECT source FROM audit")
    assert row["source"] == inbox.SOURCE == "webhook"


def stored(name: str, outcome: Outcome, minute: int = 0) -> runs.StoredRun:
    from datetime import UTC, datetime

    return runs.StoredRun(
        service="payments",
        provider="github",
        run_id=f"workflow_run:{name}",
        name=name,
        head_sha=SHA,
        head_branch="v2.1.1",
        tag=None,
        outcome=outcome,
        url=None,
        updated_at=datetime(2026, 3, 14, 9, minute, tzinfo=UTC),
    )


def test_a_quick_green_workflow_is_not_green_while_a_required_one_has_not_reported() -> None:
    lint = stored("lint", Outcome.SUCCESS)
    waiting = gate.standing([lint], required=["test"], what=WHAT)
    assert not waiting.green and waiting.stop is None
    assert waiting.waiting == "required workflow(s) 'test' not reported yet"
    assert gate.standing([lint], required=[], what=WHAT).green
    running = gate.standing([lint, stored("test", Outcome.RUNNING)], required=["test"], what=WHAT)
    assert (running.green, running.waiting) == (False, "CI still in_progress")
    done = gate.standing([lint, stored("test", Outcome.SUCCESS)], required=["test"], what=WHAT)
    assert done.green


def test_every_reported_workflow_must_be_green_not_only_one() -> None:
    found = [stored("lint", Outcome.SUCCESS), stored("e2e", Outcome.QUEUED)]
    assert gate.standing(found, required=[], what=WHAT).waiting == "CI still queued"


def test_skipped_runs_fail_nothing_but_are_never_green_on_their_own() -> None:
    docs = stored("docs", Outcome.SKIPPED)
    with_test = gate.standing([docs, stored("test", Outcome.SUCCESS)], required=[], what=WHAT)
    assert with_test.green  # a skipped docs workflow blocks nothing
    alone = gate.standing([docs, stored("lint", Outcome.SKIPPED)], required=[], what=WHAT)
    assert not alone.green
    assert (
        alone.stop
        == f"CI tested nothing for {WHAT}: every run was skipped (docs skipped, lint skipped)"
    )
    required = gate.standing(
        [stored("lint", Outcome.SUCCESS), stored("test", Outcome.SKIPPED)],
        required=["test"],
        what=WHAT,
    )
    assert required.stop == f"a required CI workflow was skipped for {WHAT}: test skipped"


def test_a_pipeline_stopped_at_a_manual_job_stops_the_gate_at_once() -> None:
    payload = gitlab_pipeline(ref="v2.1.1", tag=True, sha=SHA, status="manual")
    run = events.gitlab_run("Pipeline Hook", payload)
    assert run is not None and run.outcome is Outcome.BLOCKED
    blocked = gate.standing([stored("pipeline", Outcome.BLOCKED)], required=[], what=WHAT)
    assert not blocked.green
    assert blocked.stop == f"CI for {WHAT} is blocked: a manual job is pending in pipeline manual"
    assert "run the manual job" in blocked.advice


def test_required_workflow_names_are_bounded() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="required"):
        Settings.model_validate(
            {"services": {"payments": {"ci": {"github_repository": "a/b", "required": [""]}}}}
        )
    with pytest.raises(ValidationError, match="required"):
        Settings.model_validate(
            {
                "services": {
                    "payments": {"ci": {"github_repository": "a/b", "required": ["x" * 10_000]}}
                }
            }
        )


@pytest.mark.parametrize(
    ("outcome", "shown"),
    [
        ("manual", ":double_vertical_bar: pipeline waiting for a manual job"),
        ("skipped", ":fast_forward: pipeline skipped"),
    ],
)
def test_the_hotfix_message_names_a_manual_wait_and_a_skip(outcome: str, shown: str) -> None:
    from handlers.core.rendering import Renderer

    macro = Renderer().env.from_string('{% from "_ci.j2" import ci_run %}{{ ci_run(r) }}')
    assert macro.render(r={"name": "pipeline", "outcome": outcome, "url": None}) == shown
