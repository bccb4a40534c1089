"""/hotfix validate: a named suite of checks run against one environment, before a promotion.

The runbook's `/hotfix validate --environment=staging --test-suite=critical-path`: the
environment's suite (`suites: {critical-path: [...]}`, argv commands with a timeout and
{version} {service} {environment} filled in) runs after two built-in checks - the target's
configuration (what it should run against what it runs, services.pipeline.consistency) and
the service's migration dry-run (`migrations.check`, when configured). Each check runs in
the environment's child environment (services.deploy.process.environment_for), never with
the bot's secrets.

A run is recorded (services.pipeline.records, kind VALIDATE, name = the suite) before
anything runs: a replayed request finds it and runs nothing again; its outcome lands on the
timeline once, and the promotion gate reads `records.latest_passed`. Its card
(services.pipeline.validate_card) is edited in place as each check starts and ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.chat import Chat
from services.clock import Clock, isoformat
from services.deploy import versions
from services.deploy.approvals import require_requester, target_settings
from services.deploy.checks import CHECK_TAIL_LINES, run_checks
from services.deploy.process import OUTPUT_KEPT, environment_for
from services.deploy.settings import Check, EnvironmentSettings
from services.errors import ConflictError, UserFacingError
from services.incidents.model import Incident
from services.pipeline import records
from services.pipeline.choice import Named, choose
from services.pipeline.consistency import configuration_problems, running_version
from services.pipeline.records import NewRun, PipelineRun, RunKind
from services.settings import Settings
from services.store import Store

log = logging.getLogger(__name__)

CONFIGURATION = "configuration"
MIGRATIONS = "migrations"
# What a typed suite name may show of itself in an answer.
ECHOED = 40


class CheckState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class ValidateDeps:
    settings: Settings
    store: Store
    clock: Clock
    chat: Chat


@dataclass(frozen=True)
class ValidateRequest:
    service: str
    environment: str
    version: str
    suite: str | None  # None: the environment's only suite
    requested_by: str
    incident: Incident | None
    channel_id: str | None  # where the card goes (the war room comes first)
    request_key: str | None  # Slack's trigger id: a retry finds the run, runs nothing
    inferred: tuple[str, ...] = ()


@dataclass(frozen=True)
class Planned:
    """One check of a run: a built-in one (no command for the configuration check) or the
    suite's."""

    name: str
    builtin: bool
    command: Check | None


@dataclass(frozen=True)
class Outcome:
    state: CheckState
    summary: str  # one line: "exited with 1", "2 problems"
    output: str  # the last lines printed (a failure's), or the problems found


def choose_suite(env: EnvironmentSettings, target: str, suite: str | None) -> str:
    """The suite asked for, or the environment's only one; a clear answer otherwise."""
    named = Named(
        what="test suite",
        flag="--test-suite",
        where=target,
        how_to_add="Add suites: {critical-path: [[./tests/critical.sh, '{version}']]} to the"
        " environment in the bot's configuration.",
    )
    return choose(named, env.suites, suite)


def plan(settings: Settings, env: EnvironmentSettings, service: str, suite: str) -> list[Planned]:
    """The checks of a run, in order: configuration, the migration dry-run, the suite."""
    planned = [Planned(CONFIGURATION, True, None)]
    migrations = settings.services[service].migrations
    if migrations is not None and migrations.check:
        dry_run = Check(
            name=MIGRATIONS, argv=list(migrations.check), timeout_seconds=migrations.timeout_seconds
        )
        planned.append(Planned(MIGRATIONS, True, dry_run))
    planned += [Planned(c.name, False, c) for c in env.suites[suite]]
    return planned


def names_the_candidate(env: EnvironmentSettings, suite: str) -> bool:
    """Whether a check of the suite is given {version}: then it can test the candidate
    itself (its image, its artefact) whatever the target runs; a suite that never names it
    can only test what runs."""
    return any("{version}" in arg for check in env.suites[suite] for arg in check.argv)


def version_warning(
    found: PipelineRun, env: EnvironmentSettings, running: str | None, unread: str | None
) -> tuple[str | None, bool]:
    """(the warning when the target did not run the validated version, whether that fails
    the run). What ran is said plainly; a suite that never takes {version} tested nothing of
    the version asked, so its pass would be a false record for the promotion gate."""
    if running is not None and running == found.version:
        return None, False
    what = running or f"a version the bot could not read ({unread})"
    said = f"the suite ran against {what} while {found.version} was asked"
    if names_the_candidate(env, found.name):
        return f"{said}: its checks were given {{version}}={found.version}", False
    return (
        f"{said}, and none of its checks takes {{version}}: nothing tested {found.version}."
        f" Deploy {found.version} to {found.environment} first, then validate again.",
        True,
    )


def request(deps: ValidateDeps, req: ValidateRequest) -> tuple[PipelineRun, bool]:
    """Record a validation (checked: target, version, suite, who asks); (run, created).

    A request key already recorded returns its run: a Slack retry or a double submission
    starts nothing."""
    env = target_settings(deps.settings, req.service, req.environment)
    versions.check_text(req.version)
    target = f"{req.service}/{req.environment}"
    require_requester(
        deps.settings,
        deps.chat,
        actor=req.requested_by,
        environment=req.environment,
        env=env,
        doing="validate on",
    )
    suite = choose_suite(env, target, req.suite)
    checks = plan(deps.settings, env, req.service, suite)
    incident = req.incident
    return records.create(
        deps.store,
        clock=deps.clock,
        new=NewRun(
            kind=RunKind.VALIDATE,
            service=req.service,
            environment=req.environment,
            version=req.version,
            name=suite,
            requested_by=req.requested_by,
            incident_id=incident.id if incident else None,
            channel_id=(
                incident.channel_id if incident and incident.channel_id else req.channel_id
            ),
            request_key=req.request_key,
            detail={
                "inferred": list(req.inferred),
                "checks": [_row(c, CheckState.WAITING) for c in checks],
            },
        ),
    )


def _row(check: Planned, state: CheckState, **more: Any) -> dict[str, Any]:
    return {"name": check.name, "builtin": check.builtin, "state": state.value, **more}


def execute(
    deps: ValidateDeps, run_id: str, *, on_change: Callable[[PipelineRun], object]
) -> PipelineRun:
    """Run every check of a recorded run, one after the other, and finish it once.

    `on_change` is called with the run as each check starts and ends (the card's edits).
    A run already finished (a replay) is returned untouched."""
    found = records.get(deps.store, run_id)
    if found.state is not records.RunState.RUNNING:
        return found
    try:
        return _execute(deps, found, on_change)
    except ConflictError:  # finished meanwhile (another process): its outcome stands
        return records.get(deps.store, run_id)
    except UserFacingError as exc:  # the target left the configuration meanwhile, say
        why = f"the run stopped: {exc.message}"
    except Exception as exc:  # never leave a run `running`: it would block nothing, say nothing
        log.exception("%s stopped unexpectedly", run_id)
        why = f"the run stopped unexpectedly ({type(exc).__name__}); see the bot's log"
    finished = records.finish(
        deps.store, clock=deps.clock, run_id=run_id, passed=False, summary=why
    )
    on_change(finished)
    return finished


def _execute(
    deps: ValidateDeps, found: PipelineRun, on_change: Callable[[PipelineRun], object]
) -> PipelineRun:
    env = target_settings(deps.settings, found.service, found.environment)
    checks = plan(deps.settings, env, found.service, found.name)
    child_env = environment_for(env)
    values = {
        "version": found.version or "",
        "service": found.service,
        "environment": found.environment,
    }
    # What the target runs as the validation starts: the record says what was tested.
    running, unread = running_version(
        env, service=found.service, environment=found.environment, clock=deps.clock
    )
    warning, mismatch_fails = version_warning(found, env, running, unread)
    # Shown with the first check's start (one card edit less).
    records.merge_detail(deps.store, found.id, running_version=running, version_warning=warning)
    rows: list[dict[str, Any]] = [_row(c, CheckState.WAITING) for c in checks]
    for index, check in enumerate(checks):
        started = deps.clock.now()
        rows[index] = _row(check, CheckState.RUNNING, started_at=isoformat(started))
        on_change(records.merge_detail(deps.store, found.id, checks=rows))
        if check.command is None:
            outcome = _configuration(
                deps, found, env, [warning] if warning and mismatch_fails else []
            )
        else:
            outcome = _command(check.command, values=values, env=child_env)
        seconds = round((deps.clock.now() - started).total_seconds(), 1)
        rows[index] = _row(
            check,
            outcome.state,
            started_at=isoformat(started),
            seconds=seconds,
            summary=outcome.summary,
            output=outcome.output,
        )
        on_change(records.merge_detail(deps.store, found.id, checks=rows))
    failed = [r for r in rows if r["state"] != CheckState.PASSED.value]
    summary = (
        f"all {len(rows)} checks passed"
        if not failed
        else ", ".join(f"{r['name']} {r['summary']}" for r in failed)
    )
    if warning and not mismatch_fails and not failed:  # what the pass the gate reads covers
        summary += f". Warning: {warning}"
    finished = records.finish(
        deps.store,
        clock=deps.clock,
        run_id=found.id,
        passed=not failed,
        summary=summary,
        output="\n".join(f"[{r['name']}]\n{r['output']}" for r in failed)[-OUTPUT_KEPT:],
    )
    on_change(finished)
    return finished


def _command(check: Check, *, values: dict[str, str], env: dict[str, str]) -> Outcome:
    ((_, result),) = run_checks([check], values=values, env=env).results
    if result.ok:
        return Outcome(CheckState.PASSED, result.describe(), "")
    state = CheckState.TIMED_OUT if result.returncode is None else CheckState.FAILED
    summary = (
        f"timed out after {check.timeout_seconds:g} s"
        if state is CheckState.TIMED_OUT
        else result.describe()
    )
    return Outcome(state, summary, result.tail(CHECK_TAIL_LINES))


def _configuration(
    deps: ValidateDeps, found: PipelineRun, env: EnvironmentSettings, more: list[str]
) -> Outcome:
    problems = more + configuration_problems(
        deps.store,
        env,
        service=found.service,
        environment=found.environment,
        clock=deps.clock,
    )
    if not problems:
        return Outcome(CheckState.PASSED, "the target runs what the config and records say", "")
    count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
    return Outcome(CheckState.FAILED, count, "\n".join(problems))
