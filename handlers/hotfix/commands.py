"""/hotfix create, /hotfix finish, /hotfix status: hotfix branches from chat."""

from __future__ import annotations

from typing import Any

import click

from handlers.console.chat import CHANNEL_PREFIX as CONSOLE_CHANNEL
from handlers.core.commands import CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.params import SEVERITY
from handlers.core.replies import Reply
from handlers.incident.lookup import incident_here
from services import hotfix
from services.chat import ChatError, Message
from services.ci.watches import Subject, post_watched
from services.incidents.model import Incident, Severity
from services.incidents.presenting import incident_data

COMMANDS = CommandList()


SERVICE_OPTION = click.option(
    "--service", help="Which service's repository (default: the only one)."
)


def _announce(
    env: CommandEnv,
    incident: Incident | None,
    template: str,
    data: dict[str, Any],
    *,
    ci: Subject | None = None,
) -> list[str]:
    """Post the result in the war room, or the channel where the command was typed; with
    `ci` (a service whose `ci:` is configured), the message shows that CI status, live."""
    channel = incident.channel_id if incident else env.invocation.channel_id
    if channel is None:
        return []
    deps = env.deps
    service = deps.settings.services.get(str(data["service"]))
    try:
        # A terminal's own channels exist only in that terminal: the serving bot that gets
        # the webhooks could not edit them (a relayed Slack channel is watched as usual).
        watched = not channel.startswith(CONSOLE_CHANNEL)
        if ci is not None and watched and service is not None and service.ci is not None:
            post_watched(
                deps.store,
                clock=deps.clock,
                chat=deps.chat,
                service=str(data["service"]),
                channel_id=channel,
                message=Message(template, data),
                subject=ci,
            )
        else:
            deps.chat.post(channel, Message(template, data))
    except ChatError as exc:
        return [f"Could not post in the channel: `{exc.error}`"]
    return []


@chat_command(
    COMMANDS,
    "create",
    example='/hotfix create --issue=PROD-2847 --severity=critical --from=production --desc="payment null pointer"',
    short_help="Cut a hotfix branch from the production baseline.",
)
@click.option("--issue", "issue_key", required=True, help="The tracker issue, e.g. PROD-2847.")
@click.option("--desc", "description", help="A few words for the branch name.")
@click.option("--from", "base", help="Where to cut from (default: the production branch).")
@click.option(
    "--severity",
    type=SEVERITY,
    help="sev0 … sev3, or critical (SEV1), high, medium, low. Without an open incident here,"
    " offers to declare one.",
)
@SERVICE_OPTION
def create(
    env: CommandEnv,
    issue_key: str,
    description: str | None,
    base: str | None,
    severity: Severity | None,
    service: str | None,
) -> Reply:
    """Fetch, find the newest release tag on production, cut hotfix/<ISSUE>-<desc> from it and push it."""
    incident = incident_here(env)
    name, created = hotfix.start(
        env.deps.hotfix,
        actor=env.invocation.actor,
        service=service,
        issue_key=issue_key,
        description=description,
        base=base,
        severity=severity,
        incident=incident,
    )
    data = {
        "service": name,
        "created": created,
        "actor": env.invocation.actor,
        "incident": incident_data(incident, now=env.deps.clock.now()) if incident else None,
        "offer_declare": severity is not None and incident is None,
        "declare_title": f"{created.issue_key}: {description or 'hotfix'}",
    }
    problems = _announce(env, incident, "hotfix_created", data, ci=Subject(branch=created.branch))
    return Reply("hotfix_created", {**data, "problems": problems})


@chat_command(
    COMMANDS,
    "finish",
    example="/hotfix finish --issue=PROD-2847 --version=v2.1.1",
    short_help="Merge, tag and merge back the hotfix, all or nothing.",
)
@click.option("--issue", "issue_key", help="Which hotfix (default: the only open one).")
@click.option("--version", help="The version to tag (default: the next patch version).")
@SERVICE_OPTION
def finish(
    env: CommandEnv, issue_key: str | None, version: str | None, service: str | None
) -> Reply:
    """git-flow: merge --no-ff into production, tag, merge into develop; trunk: fast-forward, tag,
    cherry-pick onto main. One atomic push; any failure leaves the remote as it was."""
    incident = incident_here(env)
    name, finished = hotfix.finish(
        env.deps.hotfix,
        actor=env.invocation.actor,
        service=service,
        issue_key=issue_key,
        version=version,
        incident=incident,
    )
    if isinstance(finished, hotfix.AlreadyFinished):
        # Already done (a replay, a second click): an answer to the asker, not news for the room.
        return Reply("hotfix_already_finished", {"service": name, "done": finished})
    data = {
        "service": name,
        "finished": finished,
        "actor": env.invocation.actor,
        "incident": incident_data(incident, now=env.deps.clock.now()) if incident else None,
    }
    problems = _announce(
        env,
        incident,
        "hotfix_finished",
        data,
        ci=Subject(tag=finished.tag, sha=finished.tagged_sha),
    )
    return Reply("hotfix_finished", {**data, "problems": problems})


@chat_command(
    COMMANDS,
    "status",
    example="/hotfix status --issue=PROD-2847",
    short_help="Open hotfix branches, how far ahead of production, finished or not.",
)
@click.option("--issue", "issue_key", help="Only this hotfix.")
@SERVICE_OPTION
def status(env: CommandEnv, issue_key: str | None, service: str | None) -> Reply:
    """List hotfix branches on the remote: commits ahead/behind production, last commit, finished."""
    name, branches = hotfix.status(
        env.deps.hotfix, actor=env.invocation.actor, service=service, issue_key=issue_key
    )
    return Reply("hotfix_status", {"service": name, "branches": branches})
