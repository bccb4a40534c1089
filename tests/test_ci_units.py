"""CI status, the parts without a server: signatures, payload reading, the commit's verdict."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import jsonschema
import pytest

from bot.wiring import build_deps, close_deps
from handlers.core.context import Deps
from services.ci import events, runs, signatures
from services.ci.model import Outcome, outcome_of
from services.ci.watches import Subject, status
from services.clock import ManualClock
from services.settings import Settings
from tests.harness.ci_payloads import (
    check_suite,
    gitlab_pipeline,
    validate_github,
    workflow_run,
)

pytestmark = pytest.mark.unit

SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"


def test_github_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"zen": "Design for failure."}'
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signatures.github_signature("s3cret", body) == expected
    env = {"HOOK_SECRET": "s3cret"}
    assert signatures.github_verified(env, "HOOK_SECRET", body=body, signature=expected)
    assert not signatures.github_verified(env, "HOOK_SECRET", body=body + b" ", signature=expected)
    assert not signatures.github_verified({}, "HOOK_SECRET", body=body, signature=expected)
    assert not signatures.github_verified(env, None, body=body, signature=expected)
    assert not signatures.github_verified(env, "HOOK_SECRET", body=body, signature="sha256=")


def test_gitlab_token_must_match_a_set_variable() -> None:
    assert signatures.gitlab_verified({"T": "tok"}, "T", token="tok")
    assert not signatures.gitlab_verified({"T": "tok"}, "T", token="to")
    assert not signatures.gitlab_verified({"T": ""}, "T", token="")
    assert not signatures.gitlab_verified({}, "T", token="tok")


def test_the_builders_payloads_are_what_githubs_schema_allows() -> None:
    payload = workflow_run("completed", head_sha=SHA, head_branch="main", conclusion="success")
    payload["workflow_run"]["conclusion"] = "great"
    with pytest.raises(jsonschema.ValidationError):
        validate_github(payload, "workflow_run$completed")


@pytest.mark.parametrize(
    ("status", "conclusion", "outcome"),
    [
        ("queued", None, Outcome.QUEUED),
        ("waiting", None, Outcome.QUEUED),
        ("in_progress", None, Outcome.RUNNING),
        ("completed", "success", Outcome.SUCCESS),
        ("completed", "skipped", Outcome.SKIPPED),
        ("completed", "neutral", Outcome.SKIPPED),
        ("completed", "cancelled", Outcome.FAILURE),
        ("completed", "timed_out", Outcome.FAILURE),
        ("pending", None, Outcome.QUEUED),  # GitLab's words from here on
        ("running", None, Outcome.RUNNING),
        ("success", None, Outcome.SUCCESS),
        ("failed", None, Outcome.FAILURE),
        ("canceled", None, Outcome.FAILURE),
        ("skipped", None, Outcome.SKIPPED),
        ("manual", None, Outcome.BLOCKED),
    ],
)
def test_provider_words_map_to_four_outcomes(
    status: str, conclusion: str | None, outcome: Outcome
) -> None:
    assert outcome_of(status, conclusion) is outcome


def test_a_workflow_run_is_read_and_bounded() -> None:
    payload = workflow_run("completed", head_sha=SHA, head_branch="main", conclusion="failure")
    payload["workflow_run"]["name"] = "\u202eIC\u202c\n" + "n" * 5000
    payload["workflow_run"]["html_url"] = "javascript:alert(1)"
    run = events.github_run("workflow_run", payload)
    assert run is not None
    assert run.name.startswith("IC n") and len(run.name) <= events.MAX_NAME
    assert run.url is None  # not an http(s) link: not shown
    assert (run.attempt, run.outcome, run.head_branch) == (1, Outcome.FAILURE, "main")


def test_a_check_suite_is_read() -> None:
    payload = check_suite("requested", head_sha=SHA, head_branch=None, status="queued")
    run = events.github_run("check_suite", payload)
    assert run is not None and run.outcome is Outcome.QUEUED and run.head_branch is None


def test_a_gitlab_pipeline_is_read_with_its_times() -> None:
    payload = gitlab_pipeline(
        ref="main", sha=SHA, status="failed", finished_at="2026-03-14 09:01:13 UTC"
    )
    run = events.gitlab_run("Pipeline Hook", payload)
    assert run is not None and run.updated_at.isoformat() == "2026-03-14T09:01:13+00:00"
    assert events.gitlab_run("Push Hook", payload) is None
    payload["object_attributes"]["created_at"] = "yesterday"
    payload["object_attributes"]["finished_at"] = None
    with pytest.raises(events.MalformedPayloadError):
        events.gitlab_run("Pipeline Hook", payload)


def test_the_verdict_is_each_workflows_latest_run(deps: Deps) -> None:
    def keep(action: str, run_id: int, name: str, at: str, conclusion: str | None = None) -> None:
        payload = workflow_run(
            action,
            run_id=run_id,
            head_sha=SHA,
            head_branch="main",
            conclusion=conclusion,
            updated_at=at,
        )
        payload["workflow_run"]["name"] = name
        run = events.github_run("workflow_run", payload)
        assert run is not None
        runs.store_run(deps.store, clock=deps.clock, service="payments", run=run)

    assert runs.verdict(runs.for_commit(deps.store, service="payments", sha=SHA)) is None
    keep("completed", 1, "test", "2026-03-14T09:00:00Z", "failure")
    keep("completed", 2, "lint", "2026-03-14T09:00:00Z", "success")
    assert runs.verdict(runs.for_commit(deps.store, service="payments", sha=SHA)) is (
        Outcome.FAILURE
    )
    # "test" ran again (a new run, pushed again): its older failure is history.
    keep("in_progress", 3, "test", "2026-03-14T09:10:00Z")
    found = runs.for_commit(deps.store, service="payments", sha=SHA)
    assert runs.verdict(found) is Outcome.RUNNING
    keep("completed", 3, "test", "2026-03-14T09:12:00Z", "success")
    assert runs.verdict(runs.for_commit(deps.store, service="payments", sha=SHA)) is (
        Outcome.SUCCESS
    )
    shown = status(deps.store, service="payments", subject=Subject(branch="main"))
    assert shown["outcome"] == "success"
    assert [r["name"] for r in shown["runs"]] == ["test", "lint"]


def test_requires_ci_without_a_ci_project_says_what_to_add(
    tmp_path: Path, clock: ManualClock
) -> None:
    from services.ci import gate

    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "services": {
                "payments": {
                    "environments": {
                        "production": {
                            "backend": "command",
                            "command": {"deploy": ["./deploy.sh", "{version}"]},
                            "requires_ci": True,
                        }
                    }
                }
            },
        }
    )
    built = build_deps(settings, clock=clock)
    try:
        env = settings.services["payments"].environments["production"]
        (refusal,) = gate.refusals(built.deploy, env, service="payments", version="v2.1.1")
    finally:
        close_deps(built)
    assert refusal.gate == "ci"
    assert refusal.reason == (
        "payments has requires_ci but names no CI project, so no run can ever be found."
        " Add services.payments.ci (github_repository or gitlab_project)."
    )
