"""/webhooks/github and /webhooks/gitlab over real HTTP: verified, kept, refused, audited."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.clock import ManualClock
from tests.harness.ci_bot import SECRET, sender, start_ci_bot
from tests.harness.ci_payloads import (
    CiSender,
    check_suite,
    gitlab_pipeline,
    ping,
    post,
    workflow_run,
)
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
BRANCH = "hotfix/PROD-2847-payment-null-pointer"


@pytest.fixture
def ci_bot(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningBot]:
    running = start_ci_bot(slack=slack, tmp_path=tmp_path, clock=clock, monkeypatch=monkeypatch)
    yield running
    running.stop()


@pytest.fixture
def ci(ci_bot: RunningBot) -> CiSender:
    return sender(ci_bot)


def stored(bot: RunningBot) -> list[dict]:
    return bot.deps.store.query("SELECT * FROM ci_runs ORDER BY provider, run_id")


def test_a_signed_workflow_run_is_kept(ci_bot: RunningBot, ci: CiSender) -> None:
    answer = ci.github(
        "workflow_run",
        workflow_run("in_progress", head_sha=SHA, head_branch=BRANCH),
    )
    assert answer.status == 202 and answer.json["kept"] is True
    (row,) = stored(ci_bot)
    assert (row["provider"], row["repository"], row["run_id"], row["service"]) == (
        "github",
        "acme/payments",
        "workflow_run:8812345678",
        "payments",
    )
    assert (row["head_sha"], row["head_branch"], row["outcome"], row["name"]) == (
        SHA,
        BRANCH,
        "in_progress",
        "CI",
    )
    assert row["url"] == "https://github.com/acme/payments/actions/runs/8812345678"
    assert row["updated_at"].startswith("2026-03-14T09:00:00")


@pytest.mark.parametrize("secret", ["not-the-secret", None], ids=["wrong-secret", "unsigned"])
def test_forged_or_unsigned_github_deliveries_are_refused_and_audited(
    ci_bot: RunningBot, ci: CiSender, secret: str | None
) -> None:
    answer = ci.github(
        "workflow_run",
        workflow_run("completed", head_sha=SHA, head_branch=BRANCH, conclusion="success"),
        secret=secret,
    )
    assert answer.status == 401
    assert stored(ci_bot) == []
    (row,) = ci_bot.audit()
    # One source for every webhook row: forged, unknown repository, a fork's run.
    assert (row["action"], row["outcome"], row["source"]) == (
        "webhook:github",
        "forged",
        "webhook",
    )
    assert row["actor"] == "127.0.0.1"


def test_a_body_changed_after_signing_is_refused(ci_bot: RunningBot, ci: CiSender) -> None:
    payload = workflow_run("completed", head_sha=SHA, head_branch=BRANCH, conclusion="failure")
    signed = json.dumps(payload).encode()
    from tests.harness.ci_payloads import github_headers

    headers = github_headers(SECRET, signed, "workflow_run")
    tampered = signed.replace(b'"failure"', b'"success"')
    answer = post(f"{ci.base_url}/webhooks/github", tampered, headers)
    assert answer.status == 401 and stored(ci_bot) == []


def test_no_secret_configured_refuses_every_delivery(
    ci_bot: RunningBot, ci: CiSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET")
    monkeypatch.delenv("GITLAB_WEBHOOK_TOKEN")
    github = ci.github(
        "workflow_run", workflow_run("in_progress", head_sha=SHA, head_branch=BRANCH)
    )
    gitlab = ci.gitlab(gitlab_pipeline(ref=BRANCH, sha=SHA, status="running"))
    assert (github.status, gitlab.status) == (401, 401)
    assert [r["outcome"] for r in ci_bot.audit()] == ["forged", "forged"]
    assert stored(ci_bot) == []


def test_gitlab_pipelines_need_the_token(ci_bot: RunningBot, ci: CiSender) -> None:
    payload = gitlab_pipeline(
        ref=BRANCH,
        sha=SHA,
        status="success",
        finished_at="2026-03-14 09:01:13 UTC",
    )
    assert ci.gitlab(payload, token="wrong").status == 401
    assert ci.gitlab(payload, token=None).status == 401
    assert [r["action"] for r in ci_bot.audit()] == ["webhook:gitlab", "webhook:gitlab"]
    answer = ci.gitlab(payload)
    assert answer.status == 202
    (row,) = stored(ci_bot)
    assert (row["provider"], row["run_id"], row["outcome"], row["head_branch"]) == (
        "gitlab",
        "pipeline:31",
        "success",
        BRANCH,
    )
    assert row["url"] == "https://gitlab.example.com/acme/payments/-/pipelines/31"


def test_a_gitlab_tag_pipeline_is_kept_as_the_tag(ci_bot: RunningBot, ci: CiSender) -> None:
    ci.gitlab(gitlab_pipeline(ref="v2.1.1", tag=True, sha=SHA, status="running"))
    (row,) = stored(ci_bot)
    assert (row["tag"], row["head_branch"], row["outcome"]) == ("v2.1.1", None, "in_progress")


def test_check_suites_are_kept_with_a_link_to_the_commits_checks(
    ci_bot: RunningBot, ci: CiSender
) -> None:
    answer = ci.github(
        "check_suite",
        check_suite(
            "completed", head_sha=SHA, head_branch=BRANCH, status="completed", conclusion="failure"
        ),
    )
    assert answer.status == 202
    (row,) = stored(ci_bot)
    assert (row["run_id"], row["name"], row["outcome"]) == (
        "check_suite:21230001234",
        "GitHub Actions",
        "failure",
    )
    assert row["url"] == f"https://github.com/acme/payments/commit/{SHA}/checks"


def test_ping_is_answered_and_other_events_are_ignored(ci_bot: RunningBot, ci: CiSender) -> None:
    assert ci.github("ping", ping()).status == 200
    pushed = ci.github("push", {"ref": "refs/heads/main", "after": SHA})
    assert pushed.status == 200 and pushed.json["ignored"] is True
    note = ci.gitlab({"object_kind": "note"}, event="Note Hook")
    assert note.status == 200 and note.json["ignored"] is True
    assert stored(ci_bot) == []


def test_an_older_delivery_never_overwrites_a_newer_state(ci_bot: RunningBot, ci: CiSender) -> None:
    done = workflow_run(
        "completed",
        head_sha=SHA,
        head_branch=BRANCH,
        conclusion="failure",
        updated_at="2026-03-14T09:05:00Z",
    )
    late = workflow_run(
        "in_progress", head_sha=SHA, head_branch=BRANCH, updated_at="2026-03-14T09:01:00Z"
    )
    assert ci.github("workflow_run", done).json["kept"] is True
    assert ci.github("workflow_run", late).json["kept"] is False  # arrived late
    assert ci.github("workflow_run", done).json["kept"] is False  # a redelivery
    assert [r["outcome"] for r in stored(ci_bot)] == ["failure"]
    # A re-run is a new attempt of the same run: it replaces the failure.
    rerun = workflow_run(
        "in_progress",
        head_sha=SHA,
        head_branch=BRANCH,
        attempt=2,
        updated_at="2026-03-14T09:10:00Z",
    )
    assert ci.github("workflow_run", rerun).json["kept"] is True
    assert [(r["outcome"], r["attempt"]) for r in stored(ci_bot)] == [("in_progress", 2)]


def test_unknown_repositories_are_acknowledged_ignored_and_audited(
    ci_bot: RunningBot, ci: CiSender
) -> None:
    answer = ci.github(
        "workflow_run",
        workflow_run("in_progress", repo="someone/else", head_sha=SHA, head_branch="main"),
    )
    assert answer.status == 202 and answer.json["ignored"] is True
    assert stored(ci_bot) == []
    (row,) = ci_bot.audit()
    assert (row["action"], row["outcome"], row["source"]) == (
        "webhook:github",
        "refused",
        "webhook",
    )
    assert "'someone/else'" in row["detail"]


def test_a_forks_pull_request_run_is_acknowledged_and_ignored(
    ci_bot: RunningBot, ci: CiSender
) -> None:
    payload = workflow_run(
        "completed",
        head_repo="mallory/payments",
        head_sha=SHA,
        head_branch=BRANCH,
        conclusion="failure",
    )
    answer = ci.github("workflow_run", payload)
    assert answer.status == 202 and answer.json["ignored"] is True
    assert stored(ci_bot) == []
    fork_mr = gitlab_pipeline(ref=BRANCH, sha=SHA, status="running", merge_request_from=4242)
    assert ci.gitlab(fork_mr).json["ignored"] is True
    assert stored(ci_bot) == []
    assert [(r["source"], r["outcome"]) for r in ci_bot.audit()] == [
        ("webhook", "refused"),
        ("webhook", "refused"),
    ]


def test_malformed_bodies_get_400(ci_bot: RunningBot, ci: CiSender) -> None:
    from tests.harness.ci_payloads import github_headers

    url = f"{ci.base_url}/webhooks/github"
    for body in (b"{not json", b"[1, 2]", json.dumps({"workflow_run": "x"}).encode()):
        answer = post(url, body, github_headers(SECRET, body, "workflow_run"))
        assert answer.status == 400, body
    payload = workflow_run("in_progress", head_sha=SHA, head_branch=BRANCH)
    payload["workflow_run"]["head_sha"] = "$(rm -rf /)"
    body = json.dumps(payload).encode()
    answer = post(url, body, github_headers(SECRET, body, "workflow_run"))
    assert answer.status == 400 and "head_sha" in answer.json["error"]
    assert stored(ci_bot) == []


def test_an_oversized_body_is_refused_before_it_is_read(ci_bot: RunningBot) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", ci_bot.server.port, timeout=10)
    connection.putrequest("POST", "/webhooks/github")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(30 * 1024 * 1024))
    connection.putheader("X-GitHub-Event", "workflow_run")
    connection.endheaders()
    connection.send(b"{")  # the rest never comes: the answer must not wait for it
    response = connection.getresponse()
    assert response.status == 413
    connection.close()
    assert stored(ci_bot) == []


def test_get_is_not_a_delivery(ci_bot: RunningBot) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", ci_bot.server.port, timeout=10)
    connection.request("GET", "/webhooks/gitlab")
    assert connection.getresponse().status == 405
    connection.close()


def test_githubs_form_content_type_is_read_too(ci_bot: RunningBot, ci: CiSender) -> None:
    from urllib.parse import urlencode

    from tests.harness.ci_payloads import github_headers

    payload = workflow_run("in_progress", head_sha=SHA, head_branch=BRANCH)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        **github_headers(SECRET, body, "workflow_run"),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    assert post(f"{ci.base_url}/webhooks/github", body, headers).status == 202
    assert [r["outcome"] for r in stored(ci_bot)] == ["in_progress"]
