"""/hotfix validate (see services.pipeline.validate): record the run, post its card, and run
its checks on the bot's long-job threads; the answer comes at once."""

from __future__ import annotations

import click

from handlers.console.chat import CHANNEL_PREFIX
from handlers.core.commands import CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.deploy.commands import inferred_or_usage, service_and_version
from handlers.deploy.runner import home_channel
from handlers.incident.lookup import incident_here
from services.logcontext import bound
from services.pipeline import validate as validation
from services.pipeline import validate_card
from services.pipeline.records import PipelineRun

COMMANDS = CommandList()

AGAIN = "/hotfix validate --environment={environment} --service={service} --version=v…"


def deps_of(env: CommandEnv) -> validation.ValidateDeps:
    d = env.deps
    return validation.ValidateDeps(settings=d.settings, store=d.store, clock=d.clock, chat=d.chat)


@chat_command(
    COMMANDS,
    "validate",
    example="/hotfix validate --environment=staging --test-suite=critical-path",
    short_help="Run an environment's test suite, plus configuration and migration checks.",
)
@click.option("--environment", required=True, help="Environment, e.g. staging.")
@click.option(
    "--test-suite",
    "suite",
    help="The environment's suite (suites: in the config); default: its only one.",
)
@click.option(
    "--service",
    help="Service, e.g. payments (default: the incident's hotfix's, else the only one).",
)
@click.option(
    "--version",
    help="The version to validate (default: the tag the incident's hotfix finish made).",
)
def validate(
    env: CommandEnv,
    environment: str,
    suite: str | None,
    service: str | None,
    version: str | None,
) -> Reply:
    """Validate a version on an environment: the configuration check (what the target runs
    against its config and the bot's last deployment), the migration dry-run (migrations.check)
    and the suite's checks. A live card shows each check; the result is recorded for the
    `requires:` gate of the environments after this one."""
    incident = incident_here(env)
    deps = deps_of(env)
    choice = service_and_version(
        env, environment=environment, service=service, version=version, again=AGAIN
    )
    run, created = inferred_or_usage(
        lambda: validation.request(
            deps,
            validation.ValidateRequest(
                service=choice.service,
                environment=environment,
                version=choice.version,
                suite=suite,
                requested_by=env.invocation.actor,
                incident=incident,
                channel_id=home_channel(env, env.invocation.channel_id),
                request_key=env.invocation.trigger_id,
                inferred=choice.inferred,
            ),
        )
    )
    if not created:
        return _answer(env, run, f"{run.id} was already requested ({run.state.value}).", [])
    problem = validate_card.post_or_update(deps.store, run, chat=deps.chat)
    env.deps.worker.submit(
        lambda: _run(deps, run),
        describe=f"validate {run.id}",
        long=True,
        one_at_a_time=run.id,
    )
    checks = len(run.detail.get("checks") or [])
    return _answer(
        env,
        run,
        f"{run.id} started: {checks} check(s) of {run.name} on {run.target} ({run.version}).",
        [problem] if problem else [],
    )


def _run(deps: validation.ValidateDeps, run: PipelineRun) -> None:
    with bound(incident_id=run.incident_id):
        validation.execute(
            deps,
            run.id,
            on_change=lambda now: validate_card.post_or_update(deps.store, now, chat=deps.chat),
        )


def _answer(env: CommandEnv, run: PipelineRun, text: str, problems: list[str]) -> Reply:
    card_home = run.channel_id if run.card_ts else None
    if card_home == env.invocation.channel_id or (card_home or "").startswith(CHANNEL_PREFIX):
        card_home = None  # here already, or printed in the console
    return Reply(
        "validate_ack",
        {
            **validate_card.card_data(run),
            "text": text,
            "problems": problems,
            "card_home": card_home,
        },
    )
