"""`hotfix-bot deploy …` and `hotfix-bot rollback …` follow the deployment to its end.

The terminal is the requester's home for a deployment asked from it: after the request,
the command prints what happens (the deployment's timeline entries and its steps) as it
happens, wherever it runs (this process, or the serving bot after an approval in Slack),
and exits by the outcome. `--no-wait` returns at once.

Exit codes (documented in the README):

* 0 - it ended as asked: a deployment succeeded; a rollback rolled back (or found the
  target already there); a `rollback` typed while a deployment ran stopped and undid it.
* 1 - it did not: failed, rejected, expired, cancelled, a deployment rolled back
  (automatically or by someone's Rollback), or interrupted (the bot restarted; it waits
  for `deploy resume DEP-n` or `deploy rollback DEP-n`).
* 130 - Ctrl-C stopped following; the deployment goes on (when this terminal runs it,
  because it needed no approval, the command returns when it ends).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from handlers.core.context import Deps
from handlers.core.replies import Reply
from handlers.deploy.commands import DEPLOY
from services import timeline
from services.deploy import deployments
from services.deploy.model import FINAL, Deployment, Kind, State

NO_WAIT = "--no-wait"
# Requests that start a deployment; every other command answers and returns.
FOLLOWED: dict[str, Kind] = {"deploy": Kind.DEPLOY, "rollback": Kind.ROLLBACK}
# As asked: the end states that count as success, by (what was asked, what ran). A
# `rollback` typed while a deployment runs stops and undoes that deployment.
SUCCESS: dict[tuple[Kind, Kind], frozenset[State]] = {
    (Kind.DEPLOY, Kind.DEPLOY): frozenset({State.SUCCEEDED}),
    (Kind.ROLLBACK, Kind.ROLLBACK): frozenset({State.ROLLED_BACK, State.ROLLBACK_SKIPPED}),
    (Kind.ROLLBACK, Kind.DEPLOY): frozenset({State.ROLLED_BACK}),
}
ENDS = FINAL | {State.INTERRUPTED}
EXIT_STOPPED_FOLLOWING = 130  # Ctrl-C: the shell's code for an interrupted command


def split_no_wait(args: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """The words without the terminal's own `--no-wait`, and whether to wait."""
    kept = tuple(word for word in args if word != NO_WAIT)
    return kept, len(kept) == len(args)


def followed_kind(name: str, args: tuple[str, ...]) -> Kind | None:
    """Which request the words make: `deploy --target=…` and `rollback …` (not `deploy list`)."""
    kind = FOLLOWED.get(name)
    if kind is Kind.DEPLOY and not DEPLOY.runs_default(args[0] if args else None):
        return None  # a subcommand: deploy list, deploy status, deploy promote …
    return kind


def deployment_of(reply: Reply) -> str | None:
    """The deployment an answer is about (a request's or a Rollback's answer)."""
    if reply.template != "deploy_ack":
        return None
    deployment = reply.data.get("deployment")
    found = deployment.get("id") if isinstance(deployment, dict) else None
    return str(found) if found else None


def no_wait_note(deps: Deps, deployment_id: str) -> str | None:
    """With --no-wait: a deployment this process started itself holds the process open."""
    deployment = deployments.get(deps.store, deployment_id)
    if deployment.state is State.REQUESTED or deployment.state in ENDS:
        return None
    return (
        f"{deployment.id} needed no approval and runs in this process: the command returns"
        f" when it ends (`hotfix-bot deploy status {deployment.id}` from another terminal)."
    )


def after_request(
    deps: Deps, reply: Reply, *, asked: Kind, wait: bool, echo: Callable[[str], None]
) -> int:
    """After a terminal's request: follow it to its end (the exit code), or with --no-wait
    return at once (0), saying when this process must stay until the end anyway."""
    deployment_id = deployment_of(reply)
    if deployment_id is None:
        return 0
    if wait:
        return Follower(deps, deployment_id, echo=echo).until_end(asked)
    note = no_wait_note(deps, deployment_id)
    if note:
        echo(note)
    return 0


def exit_code(deployment: Deployment, asked: Kind) -> int:
    """0 when it ended as asked, else 1 (see the module's docstring)."""
    return 0 if deployment.state in SUCCESS.get((asked, deployment.kind), frozenset()) else 1


class Follower:
    """Prints a deployment's new timeline entries and step changes until it ends."""

    def __init__(
        self,
        deps: Deps,
        deployment_id: str,
        *,
        echo: Callable[[str], None],
        poll_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.deps = deps
        self.deployment_id = deployment_id
        self.echo = echo
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self._seen_event = 0
        self._steps: dict[str, str] = {}

    def until_end(self, asked: Kind) -> int:
        store = self.deps.store
        self.echo(
            f"Following {self.deployment_id} until it ends (Ctrl-C stops following;"
            " --no-wait returns at once)."
        )
        try:
            while True:
                deployment = deployments.get(store, self.deployment_id)
                self._print_news()
                if deployment.state in ENDS:
                    return self._finish(deployment, asked)
                self.sleep(self.poll_seconds)
        except KeyboardInterrupt:
            self.echo(
                f"\nStopped following {self.deployment_id}; it goes on"
                f" (`hotfix-bot deploy status {self.deployment_id}` shows where it is)."
            )
            return EXIT_STOPPED_FOLLOWING

    def _print_news(self) -> None:
        store = self.deps.store
        zone = self.deps.settings.zone
        for event in timeline.of_deployment(store, self.deployment_id, after=self._seen_event):
            self._seen_event = event.id
            self.echo(f"{event.at.astimezone(zone):%H:%M:%S} {event.text}")
        for step in deployments.steps(store, self.deployment_id):
            if self._steps.get(step["step"]) == step["state"]:
                continue
            self._steps[step["step"]] = step["state"]
            detail = f": {step['detail']}" if step["detail"] and step["state"] == "failed" else ""
            self.echo(f"  step {step['step']}: {step['state']}{detail}")

    def _finish(self, deployment: Deployment, asked: Kind) -> int:
        from services.deploy.card import state_label

        code = exit_code(deployment, asked)
        if deployment.state is State.INTERRUPTED:
            self.echo(
                f"{deployment.id} is interrupted: `hotfix-bot deploy resume {deployment.id}`"
                f" continues it, `hotfix-bot deploy rollback {deployment.id}` undoes it."
            )
        self.echo(f"{deployment.id}: {state_label(deployment)} (exit {code}).")
        return code
