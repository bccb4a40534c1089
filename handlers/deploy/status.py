"""/hotfix deploy list and /hotfix deploy status DEP-n: deployments you can see.

Both read the store only (no Slack, no cluster), so they answer at once, in Slack, in
the console and from the terminal, for deployments inside and outside incidents.
`status` is the card's content (services.deploy.card.card_data) as text, with the
commands that steer the deployment in its current state.
"""

from __future__ import annotations

import click

from handlers.core.commands import CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.deploy.twins import next_commands
from services.deploy import card, deployments
from services.deploy.model import FINAL, IN_FLIGHT, State
from services.errors import UserFacingError

# Words for groups of states, besides the states themselves (`--state=active`).
STATE_GROUPS: dict[str, frozenset[State]] = {
    "active": frozenset(IN_FLIGHT | {State.REQUESTED, State.INTERRUPTED}),
    "finished": FINAL,
}
STATE_CHOICES = [*STATE_GROUPS, *(s.value for s in State)]
# With its header and footer a Slack message must stay within 50 blocks.
MAX_ROWS = 40

# Subcommands of `deploy`, put in its group by handlers.deploy.register.
COMMANDS = CommandList()


def _number(deployment_id: str | None) -> int | None:
    if deployment_id is None:
        return None
    if not deployments.DEPLOYMENT_ID.fullmatch(deployment_id.upper()):
        raise click.BadParameter("give a deployment id such as DEP-12.", param_hint="'--before'")
    return int(deployment_id.upper().removeprefix("DEP-"))


@chat_command(
    COMMANDS,
    "list",
    example="/hotfix deploy list --target=production --state=active",
    short_help="List deployments, newest first (filters: service, target, state).",
    on_worker=False,
)
@click.option("--service", help="Only this service, e.g. payments.")
@click.option("--target", "environment", help="Only this environment, e.g. production.")
@click.option(
    "--state",
    type=click.Choice(STATE_CHOICES, case_sensitive=False),
    help="Only deployments in this state; active: waiting or running, finished: ended.",
)
@click.option("--limit", type=click.IntRange(1, MAX_ROWS), default=15, show_default=True)
@click.option("--before", metavar="DEP-N", help="The next page: deployments older than DEP-N.")
def list_deployments(
    env: CommandEnv,
    service: str | None,
    environment: str | None,
    state: str | None,
    limit: int,
    before: str | None,
) -> Reply:
    """Deployments and rollbacks, newest first, inside and outside incidents."""
    states = None
    if state is not None:
        state = state.lower()
        states = STATE_GROUPS.get(state) or frozenset({State(state)})
    found = deployments.listing(
        env.deps.store,
        service=service,
        environment=environment,
        states=states,
        before=_number(before),
        limit=limit + 1,
    )
    rows = [
        card.card_data(env.deps.store, deployment, clock=env.deps.clock)["deployment"]
        for deployment in found[:limit]
    ]
    more = None
    if len(found) > limit:
        # The same filters, one page further.
        words = [
            f"--{name}={value}"
            for name, value in (("service", service), ("target", environment), ("state", state))
            if value is not None
        ]
        more = " ".join(["deploy list", *words, f"--before={rows[-1]['id']}"])
    return Reply(
        "deploy_list",
        {
            "deployments": rows,
            "filters": {"service": service, "target": environment, "state": state},
            "more": more,
            "prog": env.deps.settings.slack.command,
        },
    )


@chat_command(
    COMMANDS,
    "status",
    example="/hotfix deploy status DEP-12",
    short_help="One deployment's card as text: state, steps, approvals, what you can do.",
    on_worker=False,
)
@click.argument("deployment_id", metavar="DEP-N")
def status(env: CommandEnv, deployment_id: str) -> Reply:
    """Where a deployment is, the same as its card, and the commands that steer it now."""
    try:
        deployment = deployments.get(env.deps.store, deployment_id)
    except UserFacingError as exc:
        raise UserFacingError(
            exc.message, hint="`deploy list` shows the deployments and their ids."
        ) from exc
    data = card.card_data(env.deps.store, deployment, clock=env.deps.clock)
    return Reply(
        "deploy_status",
        {
            **data,
            "next": next_commands(deployment),
            "prog": env.deps.settings.slack.command,
            "card_channel": deployment.channel_id if deployment.card_ts else None,
        },
    )
