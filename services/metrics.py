"""The bot's own Prometheus metrics, served at /metrics.

One registry for the process; the parts of the bot count what they do here
(commands by outcome, Slack API errors, deployments by outcome, reminders).
"""

from __future__ import annotations

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
    "Time to answer a request from Slack (HTTP mode).",
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


def action_name(action: str) -> str:
    """Bound the label's cardinality: `command:incident create`, `click:hotfix_deploy_approve`."""
    return action[:60]
