"""The bot's own Prometheus metrics, served at /metrics.

One registry for the process; the parts of the bot count what they do here
(commands by outcome, Slack API errors, deployments by outcome, reminders).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

COMMANDS = Counter(
    "hotfix_commands_total",
    "Commands, clicks and forms handled, by action and outcome.",
    ["action", "outcome"],
    registry=REGISTRY,
)
ACK_SECONDS = Histogram(
    "hotfix_ack_seconds",
    "Time to acknowledge a request from Slack (HTTP and Socket Mode).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0),
    registry=REGISTRY,
)
SLACK_API_ERRORS = Counter(
    "hotfix_slack_api_errors_total",
    "Slack Web API calls that failed, by method and Slack's error code.",
    ["method", "error"],
    registry=REGISTRY,
)
DEPLOYMENTS = Counter(
    "hotfix_deployments_total",
    "Deployments that reached a final state, by strategy and outcome.",
    ["strategy", "outcome"],
    registry=REGISTRY,
)
REMINDERS = Counter(
    "hotfix_reminders_sent_total",
    "Status-update and postmortem reminders sent.",
    ["kind"],
    registry=REGISTRY,
)


OUTBOX_DEPTH = Gauge(
    "hotfix_outbox_depth",
    "Messages waiting in the outbox for Slack to come back.",
    registry=REGISTRY,
)

DELIVERIES_WAITING = Gauge(
    "hotfix_deliveries_waiting",
    "Status page, paging and email deliveries not sent yet (queued or in flight).",
    registry=REGISTRY,
)

DELIVERIES = Counter(
    "hotfix_deliveries_total",
    "Deliveries outside Slack by channel and outcome (sent, failed, postponed).",
    ["channel", "outcome"],
    registry=REGISTRY,
)


# The `action` label takes its values from a closed set, or every mistyped sub-command
# or forged action id would create a series of its own: the command paths, button
# action ids and form callback ids the bot declares as it builds its listeners.
# Anything else counts as `<kind>:unknown`; the audit log keeps what was typed.
ACTION_KINDS = ("command", "click", "form")
UNKNOWN = "unknown"
_declared_lock = threading.Lock()
_declared: set[str] = {"request"}
_declared_prefixes: set[str] = set()


def declare_actions(names: Iterable[str], *, prefix: bool = False) -> None:
    """Make `names` (e.g. `command:incident create`) label values; a prefix stands for all
    actions starting with it (labelled `<prefix>*`)."""
    with _declared_lock:
        (_declared_prefixes if prefix else _declared).update(names)


def action_name(action: str) -> str:
    """The label for `action`: itself when declared, else `<kind>:unknown`."""
    if action in _declared:
        return action
    for known in _declared_prefixes:
        if action.startswith(known):
            return known + "*"
    kind, colon, _ = action.partition(":")
    return f"{kind}:{UNKNOWN}" if colon and kind in ACTION_KINDS else UNKNOWN
