"""The pipeline's settings (commands, requires:, migrations, CI names) and its stored runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from services import timeline
from services.clock import ManualClock
from services.errors import ConflictError, NotFoundError
from services.pipeline import records
from services.pipeline.records import NewRun, RunKind, RunState
from services.store import Store
from services.store.migrations import migrate

pytestmark = pytest.mark.unit

SERVICE = """services:
  payments:
{extra}    environments:
      staging:
        backend: command
        command: {{deploy: ["./deploy.sh", "{{version}}"]}}
        health_checks: [{{url: "http://127.0.0.1:8080/healthz"}}]
{staging}      production:
        backend: command
        command: {{deploy: ["./deploy.sh", "{{version}}"]}}
        analysis: {{prometheus_url: "http://127.0.0.1:9090"}}
{production}"""


def config(tmp_path: Path, *, staging: str = "", production: str = "", extra: str = "") -> Path:
    path = tmp_path / "hotfix.yml"
    path.write_text(SERVICE.format(staging=staging, production=production, extra=extra))
    return path


def problems_of(path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return {p.field: p.message for p in raised.value.problems}


def test_commands_are_named_after_their_program_in_every_spelling(tmp_path: Path) -> None:
    settings = load_config(
        config(
            tmp_path,
            production="""        smoke: ["./smoke.sh", "{version}"]
        after_deploy: [["./purge-cdn.sh"], ["bin/flush-cache", "--all"]]
        after_rollback:
          - {name: cache, argv: ["./flush.sh"], timeout_seconds: 20}
        suites:
          critical-path: [["./critical.sh", "{version}"]]
""",
        )
    )
    env = settings.settings.services["payments"].environments["production"]
    assert [(c.name, c.argv) for c in env.smoke] == [("smoke.sh", ["./smoke.sh", "{version}"])]
    assert [c.name for c in env.after_deploy] == ["purge-cdn.sh", "flush-cache"]
    assert (env.after_rollback[0].name, env.after_rollback[0].timeout_seconds) == ("cache", 20)
    assert env.suites["critical-path"][0].argv == ["./critical.sh", "{version}"]
    assert env.requires == [] and env.requires_ci is False


def test_requires_names_an_environment_of_the_same_service(tmp_path: Path) -> None:
    problems = problems_of(config(tmp_path, production="        requires: [stagign]\n"))
    (message,) = problems.values()
    assert "requires names 'stagign'" in message
    assert "(production, staging)" in message


def test_requires_in_a_circle_is_refused(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        staging="        requires: [production]\n",
        production="        requires: [staging]\n",
    )
    (message,) = problems_of(path).values()
    assert "in a circle" in message and "staging" in message and "production" in message


def test_an_environment_may_not_require_itself(tmp_path: Path) -> None:
    (message,) = problems_of(config(tmp_path, staging="        requires: [staging]\n")).values()
    assert "names staging itself" in message


def test_migrations_and_ci_project_names_are_checked(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        extra="""    migrations: {up: [], down: ["./down.sh"], snapshot: ["./dump.sh"]}
    ci: {github_repository: "example/pay ments\\u202e"}
""",
    )
    problems = problems_of(path)
    assert "services.payments.migrations.up" in problems
    assert "services.payments.ci.github_repository" in problems


def test_a_hostile_suite_name_is_refused(tmp_path: Path) -> None:
    problems = problems_of(
        config(tmp_path, staging='        suites: {"<@U0BOB> x": [["./t.sh"]]}\n')
    )
    assert any("suites" in field for field in problems)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    store = Store(tmp_path / "hotfix.db")
    migrate(store, clock=clock)
    return store


def new_run(**changes: object) -> NewRun:
    values: dict[str, object] = {
        "kind": RunKind.VALIDATE,
        "service": "payments",
        "environment": "staging",
        "version": "2.4.1",
        "name": "critical-path",
        "requested_by": "U0ALICE",
        "incident_id": None,
        "channel_id": "C0ROOM",
        "request_key": "trigger-1",
    }
    values.update(changes)
    return NewRun(**values)  # type: ignore[arg-type]


def test_a_replayed_request_finds_its_run(store: Store, clock: ManualClock) -> None:
    run, created = records.create(store, clock=clock, new=new_run())
    again, created_again = records.create(store, clock=clock, new=new_run())
    assert (run.id, created) == ("VAL-1", True)
    assert (again.id, created_again) == ("VAL-1", False)
    verify, _ = records.create(
        store, clock=clock, new=new_run(kind=RunKind.VERIFY, request_key="trigger-2")
    )
    assert verify.id == "VER-1"  # numbered per kind


def test_a_run_finishes_once_and_the_gate_reads_the_passed_one(
    store: Store, clock: ManualClock
) -> None:
    run, _ = records.create(store, clock=clock, new=new_run())
    records.merge_detail(store, run.id, checks=[{"name": "smoke", "state": "passed"}])
    finished = records.finish(store, clock=clock, run_id=run.id, passed=True, summary="2 passed")
    assert finished.state is RunState.PASSED
    assert finished.detail == {
        "checks": [{"name": "smoke", "state": "passed"}],
        "summary": "2 passed",
    }
    with pytest.raises(ConflictError):
        records.finish(store, clock=clock, run_id=run.id, passed=False, summary="late")
    found = records.latest_passed(
        store, kind=RunKind.VALIDATE, service="payments", environment="staging", version="2.4.1"
    )
    assert found is not None and found.id == run.id
    assert (
        records.latest_passed(
            store, kind=RunKind.VALIDATE, service="payments", environment="staging", version="2.4.2"
        )
        is None
    )
    kinds = [e.kind for e in timeline.events(store, incident_id=None)]
    assert kinds == ["validate_started", "validate_passed"]


def test_runs_found_running_at_start_are_interrupted_never_passed(
    store: Store, clock: ManualClock
) -> None:
    run, _ = records.create(store, clock=clock, new=new_run())
    (interrupted,) = records.interrupt_running(store, clock=clock)
    assert interrupted.id == run.id
    assert records.get(store, run.id).state is RunState.INTERRUPTED
    assert records.interrupt_running(store, clock=clock) == []
    with pytest.raises(ConflictError):
        records.finish(store, clock=clock, run_id=run.id, passed=True, summary="too late")


@pytest.mark.parametrize("typed", ["VAL-x", "<@U0BOB>", "V" * 10_000])
def test_a_hostile_run_id_is_answered_without_echoing_it(store: Store, typed: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        records.get(store, typed)
    assert typed not in raised.value.message and len(raised.value.message) < 60


def test_an_unknown_run_id_is_named(store: Store) -> None:
    with pytest.raises(NotFoundError, match="There is no VAL-99"):
        records.get(store, "val-99")


def test_a_required_environment_must_verify_something(tmp_path: Path) -> None:
    """The gate trusts "deployed and verified there": an environment that checks nothing
    after a deploy cannot vouch for a version."""
    path = tmp_path / "hotfix.yml"
    path.write_text(
        """services:
  payments:
    environments:
      qa:
        backend: command
        command: {deploy: ["./deploy.sh", "{version}"]}
      production:
        backend: command
        command: {deploy: ["./deploy.sh", "{version}"]}
        requires: [qa]
"""
    )
    (message,) = problems_of(path).values()
    assert message == (
        "environments.production.requires qa, but qa verifies nothing:"
        " give environments.qa health_checks or analysis"
    )
