"""The bot's configuration, as typed models.

The YAML file is parsed and located (file and line) by `bot.config`; these
models say what is valid. Unknown keys are errors: a typo in a config file
read at 3 a.m. must stop the bot loudly, not be ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.comms.email.settings import EmailSettings
from services.comms.pagerduty.settings import PagingSettings
from services.comms.statuspage.settings import StatuspageSettings, unknown_components
from services.deploy.settings import EnvironmentSettings, MigrationSettings
from services.git.settings import RepositorySettings
from services.kube.settings import ApiServerConnection
from services.patterns import HttpUrlText, LinkTemplate


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(Section):
    path: Path = Field(
        default=Path("data/hotfix.db"),
        description="SQLite file; relative paths are relative to the config file.",
    )


class SlackSettings(Section):
    mode: Literal["socket", "http"] = Field(
        default="socket", description="How Slack reaches the bot: Socket Mode or HTTP requests."
    )
    http_host: str = "0.0.0.0"  # noqa: S104 - a server in a container listens on every address
    http_port: int = Field(default=3000, ge=1, le=65535)
    health_port: int | None = Field(
        default=8080,
        ge=1,
        le=65535,
        description="Socket Mode: /healthz, /readyz, /metrics (null: off).",
    )
    api_url: HttpUrlText | None = Field(
        default=None,
        description="Slack Web API base URL (GovSlack, Enterprise); SLACK_API_URL overrides it.",
    )
    command: str = Field(default="/hotfix", pattern=r"^/[a-z0-9_-]{1,31}$")
    team_id: str | None = Field(
        default=None,
        pattern=r"^T[A-Z0-9]{2,}$",
        description="The workspace the bot serves; people of other workspaces are refused.",
    )


SeverityName = Literal["sev0", "sev1", "sev2", "sev3"]
SLACK_TARGET = r"^([UWS][A-Z0-9]{2,})$"  # a user (U…/W…) or a user group (S…)


class PlaybookPhase(Section):
    phase: str = Field(min_length=1, max_length=60)
    # A phase is one Slack checkbox group, and a checkbox group holds at most 10 options.
    items: list[str] = Field(
        min_length=1, max_length=10, description="At most 10; split a longer phase in two."
    )


DEFAULT_PLAYBOOK: tuple[PlaybookPhase, ...] = (
    PlaybookPhase(
        phase="Immediate (0-5 min)",
        items=[
            "Acknowledge the incident and confirm the severity",
            "Assign an incident commander",
            "Post the initial notification",
            "Open the call bridge",
        ],
    ),
    PlaybookPhase(
        phase="Investigation (5-15 min)",
        items=[
            "Check dashboards, alerts and recent deploys",
            "Identify the affected services and customers",
            "Post a status update with the first hypothesis",
        ],
    ),
    PlaybookPhase(
        phase="Mitigation",
        items=[
            "Apply a mitigation (rollback, feature flag, scale out)",
            "Confirm that error rates and latency recover",
        ],
    ),
    PlaybookPhase(
        phase="Recovery",
        items=[
            "Verify full recovery and close the incident",
            "Schedule the postmortem and assign action items",
        ],
    ),
)


class SeverityPolicy(Section):
    responders: list[Annotated[str, Field(pattern=SLACK_TARGET)]] = Field(
        default_factory=list, description="User ids (U…) and user group ids (S…) to invite."
    )
    update_every_minutes: int = Field(ge=1, le=24 * 60)
    escalate: bool = Field(description="Also notify the escalation channel / group.")
    playbook: list[PlaybookPhase] = Field(default_factory=lambda: list(DEFAULT_PLAYBOOK))


def _default_severities() -> dict[SeverityName, SeverityPolicy]:
    cadence: dict[SeverityName, int] = {"sev0": 10, "sev1": 15, "sev2": 30, "sev3": 60}
    return {
        name: SeverityPolicy(update_every_minutes=minutes, escalate=name in ("sev0", "sev1"))
        for name, minutes in cadence.items()
    }


class CiWebhooks(Section):
    """CI status webhooks (README "CI status"): the secrets are named, never written here."""

    github_secret_env: str | None = Field(
        default="GITHUB_WEBHOOK_SECRET",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The variable holding the GitHub webhook's secret (X-Hub-Signature-256).",
    )
    gitlab_token_env: str | None = Field(
        default="GITLAB_WEBHOOK_TOKEN",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The variable holding the GitLab webhook's secret token (X-Gitlab-Token).",
    )


class ServiceCi(Section):
    """Which CI project builds this service: its webhooks are matched to it by this name."""

    github_repository: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$",
        description="owner/name, as GitHub's payloads spell repository.full_name.",
    )
    gitlab_project: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$",
        description="group/project, as GitLab's payloads spell project.path_with_namespace.",
    )
    required: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=50,
        description="Workflows (GitHub: the workflow's or check suite's name; GitLab: the"
        " pipeline's name, or `pipeline`) that must each have reported success for the"
        " version's commit before a requires_ci deploy goes ahead; one skipped is not green."
        " Without it, the runs that reported decide, however few.",
    )


class ServiceSettings(Section):
    git: RepositorySettings | None = None
    environments: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")], EnvironmentSettings
    ] = Field(default_factory=dict)
    migrations: MigrationSettings | None = Field(
        default=None, description="Database migrations run by validate, deploy and rollback."
    )
    ci: ServiceCi | None = Field(default=None, description="The CI project that builds it.")

    @model_validator(mode="after")
    def _required_environments_exist(self) -> ServiceSettings:
        for name, env in self.environments.items():
            for required in env.requires:
                if required == name:
                    raise ValueError(f"environments.{name}.requires names {name} itself")
                if required not in self.environments:
                    known = ", ".join(sorted(self.environments))
                    raise ValueError(
                        f"environments.{name}.requires names {required!r},"
                        f" which is not an environment of this service ({known})"
                    )
                before = self.environments[required]
                if not before.health_checks and before.analysis is None:
                    # The gate counts a deploy "verified" there: with nothing to check, that
                    # would promise what nobody looked at.
                    raise ValueError(
                        f"environments.{name}.requires {required}, but {required} verifies"
                        f" nothing: give environments.{required} health_checks or analysis"
                    )
        cycle = _requirement_cycle(self.environments)
        if cycle:
            raise ValueError("environments require each other in a circle: " + " → ".join(cycle))
        return self


def _requirement_cycle(environments: dict[str, EnvironmentSettings]) -> list[str]:
    """A circle of `requires:` (staging → production → staging), or []."""
    for start in environments:
        path, seen = [start], {start}
        frontier = [(start, [start])]
        while frontier:
            name, path = frontier.pop()
            for required in environments[name].requires:
                if required == start:
                    return [*path, start]
                if required not in seen:
                    seen.add(required)
                    frontier.append((required, [*path, required]))
    return []


class Bookmark(Section):
    title: str = Field(min_length=1, max_length=80)
    link: HttpUrlText


class IncidentSettings(Section):
    announcement_channel: str | None = Field(
        default=None, pattern=r"^[CG][A-Z0-9]{2,}$", description="Channel id for announcements."
    )
    escalation_channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,}$")
    escalation_usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,}$")
    private_channels: bool = False
    channel_prefix: str = Field(default="inc", pattern=r"^[a-z0-9][a-z0-9_-]{0,19}$")
    severities: dict[SeverityName, SeverityPolicy] = Field(default_factory=_default_severities)
    bookmarks: list[Bookmark] = Field(default_factory=list)
    call_link: LinkTemplate | None = Field(
        default=None,
        description="The incident call (Zoom, Meet…): a URL template with {number} or"
        " {incident_id}; bookmarked in the war room, shown in its header and the announcement.",
    )
    escalate_after_missed: int = Field(default=2, ge=1, le=20)
    snooze_minutes: int = Field(default=15, ge=1, le=240)
    postmortem_after_hours: float = Field(default=48, gt=0)
    reminder_tick_seconds: float = Field(
        default=30, gt=0, le=3600, description="How often the scheduler asks what is due."
    )

    @field_validator("severities", mode="before")
    @classmethod
    def _overrides_merge_with_defaults(cls, value: object) -> object:
        # `sev1: {update_every_minutes: 5}` changes the cadence and keeps sev1's other
        # defaults (escalate, playbook): nobody should have to restate a whole policy.
        if not isinstance(value, dict):
            return value
        defaults = _default_severities()
        merged: dict[object, object] = {}
        for name, override in value.items():
            default = defaults.get(name)
            if default is not None and isinstance(override, dict):
                required = {
                    "update_every_minutes": default.update_every_minutes,
                    "escalate": default.escalate,
                }
                merged[name] = {**required, **override}
            else:
                merged[name] = override
        return merged

    @field_validator("severities")
    @classmethod
    def _all_severities(
        cls, value: dict[SeverityName, SeverityPolicy]
    ) -> dict[SeverityName, SeverityPolicy]:
        defaults = _default_severities()
        return {name: value.get(name, defaults[name]) for name in defaults}

    def policy(self, severity: str) -> SeverityPolicy:
        return self.severities[severity]  # type: ignore[index]  # validated Severity values


class AccessSettings(Section):
    deployers: list[Annotated[str, Field(pattern=SLACK_TARGET)]] = Field(
        default_factory=list,
        description="Who may create and finish hotfixes and request deploys (U… / S… ids).",
    )
    console_is_trusted: bool = Field(
        default=True,
        description="People at the bot's own terminal (console, CLI) may do everything.",
    )


class LeaseLockSettings(ApiServerConnection):
    """A coordination.k8s.io/v1 Lease in the bot's own namespace (client-go leader election).

    Reached like a deploy target's `kubernetes:` (context, kubeconfig, in_cluster, host).
    """

    namespace: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="The bot's namespace (default: $POD_NAMESPACE, then the service account's).",
    )
    name: str = Field(default="hotfix-bot", pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    duration_seconds: int = Field(
        default=15,
        ge=1,
        le=3600,
        description="leaseDurationSeconds: how long others wait after the holder's last renewal.",
    )
    renew_seconds: float = Field(
        default=5,
        gt=0,
        description="How often the holder renews; it stops serving when it could not renew for"
        " duration_seconds - renew_seconds.",
    )

    @model_validator(mode="after")
    def _renews_in_time(self) -> LeaseLockSettings:
        if self.renew_seconds >= self.duration_seconds:
            raise ValueError("renew_seconds must be less than duration_seconds")
        return self


class LockSettings(Section):
    kind: Literal["file", "lease"] = Field(
        default="file",
        description="file: an flock next to the database; lease: a Kubernetes Lease.",
    )
    lease: LeaseLockSettings = LeaseLockSettings()
    wait: bool = Field(
        default=False,
        description="lease: wait for the holder's lease to expire instead of exiting (code 3).",
    )


class Settings(Section):
    store: StoreSettings = StoreSettings()
    slack: SlackSettings = SlackSettings()
    incidents: IncidentSettings = IncidentSettings()
    access: AccessSettings = AccessSettings()
    lock: LockSettings = Field(
        default_factory=LockSettings, description="One bot at a time: how it is enforced."
    )
    deployments_channel: str | None = Field(
        default=None,
        pattern=r"^[CG][A-Z0-9]{2,}$",
        description="Channel id where deployments asked outside a war room get their card"
        " (from a terminal, or from a channel the bot cannot post in).",
    )
    services: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")], ServiceSettings
    ] = Field(
        default_factory=dict, description="The services whose hotfixes and deploys the bot runs."
    )
    statuspage: StatuspageSettings | None = Field(
        default=None, description="The public status page (Statuspage API v1); none: off."
    )
    paging: PagingSettings = Field(
        default_factory=PagingSettings, description="Paging (PagerDuty Events API v2)."
    )
    email: EmailSettings | None = Field(default=None, description="Email over SMTP; none: off.")
    ci: CiWebhooks = Field(
        default_factory=CiWebhooks,
        description="CI status webhooks; an endpoint whose variable is unset answers 401.",
    )
    timezone: str = Field(default="UTC", description="The team's time zone for timelines.")
    templates_dir: Path | None = Field(
        default=None, description="A directory whose templates override the shipped ones."
    )
    workers: int = Field(default=4, ge=1, le=64, description="Threads for slow work.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from exc
        return value

    @model_validator(mode="after")
    def _status_page_names_services(self) -> Settings:
        if self.statuspage is not None:
            problem = unknown_components(self.statuspage, self.services)
            if problem:
                raise ValueError(problem)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
