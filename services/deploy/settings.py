"""How each service is deployed, per environment."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.deploy.analysis.run import AnalysisSettings
from services.patterns import HttpUrlText

SlackTarget = Annotated[str, Field(pattern=r"^([UWS][A-Z0-9]{2,})$")]
Argv = list[Annotated[str, Field(min_length=1)]]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# The bot's own credentials never go to a child, whatever the configuration says.
FORBIDDEN_ENV_PREFIXES = ("SLACK_",)


def _allowed_env_name(name: str) -> str:
    if name.upper().startswith(FORBIDDEN_ENV_PREFIXES):
        raise ValueError(f"{name}: the bot's Slack credentials are never passed to commands")
    return name


EnvName = Annotated[str, Field(pattern=rf"^{ENV_NAME}$"), AfterValidator(_allowed_env_name)]


class CommandEnvironment(Section):
    """Extra variables for this environment's commands (deploy, rollback, status, checks, backup).

    Commands otherwise get only PATH, HOME, LANG, LC_ALL, LC_CTYPE, TZ, TMPDIR and
    KUBECONFIG from the bot's environment (see services.children).
    """

    inherit: list[EnvName] = Field(
        default_factory=list,
        description="Names copied from the bot's environment when set there, e.g. AWS_PROFILE.",
    )
    set: dict[EnvName, str] = Field(
        default_factory=dict, description="Fixed values, e.g. {HELM_NAMESPACE: payments}."
    )

    @model_validator(mode="before")
    @classmethod
    def _a_list_is_inherit(cls, value: Any) -> Any:
        # `env: [AWS_PROFILE, AWS_REGION]` is short for `env: {inherit: [...]}`.
        return {"inherit": value} if isinstance(value, list) else value


class BlueGreenSettings(Section):
    service: str = Field(description="The Service whose selector switches between colours.")
    color_label: str = "color"
    colors: tuple[str, str] = ("blue", "green")
    deployment_pattern: str = Field(
        default="{deployment}-{color}", description="Name of each colour's Deployment."
    )
    scale_down_after_minutes: float = Field(default=30, ge=0)


class CanaryDestination(Section):
    """One destination of the weighted Istio route, as written in the VirtualService."""

    host: str = Field(
        min_length=1, description="destination.host, e.g. payments.prod.svc.cluster.local"
    )
    subset: str | None = Field(
        default=None, description="destination.subset (a DestinationRule subset)."
    )


class CanarySettings(Section):
    """A progressive canary: a second Deployment, traffic moved by an Istio VirtualService."""

    canary_deployment: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        description="The canary's Deployment (default: <deployment>-canary); kubernetes.deployment"
        " is the stable one.",
    )
    canary_replicas: int = Field(
        default=1, ge=1, description="Replicas of the canary while it runs."
    )
    virtual_service: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    virtual_service_group: str = "networking.istio.io"
    virtual_service_version: str = Field(
        default="v1beta1", pattern=r"^v[0-9]+((alpha|beta)[0-9]+)?$"
    )
    route: str | int = Field(
        default=0, description="The http route to weight: its name, or its index in spec.http."
    )
    stable: CanaryDestination
    canary: CanaryDestination
    stages: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [10, 25, 50, 75, 100],
        min_length=1,
        description="Canary weights in percent, increasing, ending at 100.",
    )
    stage_seconds: float = Field(default=300, gt=0, description="The pause at every stage.")
    analysis: AnalysisSettings | None = Field(
        default=None,
        description="Metric analysis sampled through every stage (without it stages advance on"
        " time alone).",
    )
    card_update_seconds: float = Field(
        default=15, ge=0, description="Edit the card at most this often for the time left alone."
    )

    @model_validator(mode="after")
    def _sound(self) -> CanarySettings:
        if any(b <= a for a, b in zip(self.stages, self.stages[1:], strict=False)):
            raise ValueError("canary stages must increase, e.g. [10, 25, 50, 75, 100]")
        if self.stages[-1] != 100:
            raise ValueError("the last canary stage must be 100")
        if self.stable == self.canary:
            raise ValueError("the stable and canary destinations must differ (host or subset)")
        if isinstance(self.route, int) and self.route < 0:
            raise ValueError("route: an index is 0 or more")
        return self


class ApiServerConnection(Section):
    """Where a Kubernetes API server is and whose credentials to use."""

    context: str | None = Field(default=None, description="kubeconfig context (default: current).")
    kubeconfig: str | None = None
    in_cluster: bool = False
    host: str | None = Field(default=None, description="API server URL, for tests and proxies.")


class KubernetesTarget(ApiServerConnection):
    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    deployment: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    container: str = "app"
    image: str = Field(description="Image repository; the version becomes the tag.")
    blue_green: BlueGreenSettings | None = None
    canary: CanarySettings | None = None
    rollout_timeout_seconds: float = Field(default=600, gt=0)
    poll_interval_seconds: float = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _canary_is_another_deployment(self) -> KubernetesTarget:
        if self.canary is not None and self.canary.canary_deployment == self.deployment:
            raise ValueError(
                "canary.canary_deployment must differ from deployment (the stable one)"
            )
        return self


class CommandTarget(Section):
    deploy: Argv = Field(
        min_length=1, description="argv; {version}, {service}, {environment} filled in"
    )
    rollback: Argv | None = None
    status: Argv | None = None
    timeout_seconds: float = Field(default=900, gt=0)
    workdir: str | None = None


class Check(Section):
    name: str
    argv: Argv = Field(min_length=1)
    timeout_seconds: float = Field(default=300, gt=0)


class HealthCheck(Section):
    url: HttpUrlText
    expect_status: int = Field(default=200, ge=100, le=599)
    body_contains: str | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)


class BreakGlass(Section):
    severities: tuple[Literal["sev0", "sev1"], ...] = ("sev0",)
    approvals: int = Field(default=1, ge=0, le=5)


class EnvironmentSettings(Section):
    backend: Literal["kubernetes", "command"]
    strategy: Literal["rolling", "blue-green", "canary"] = "rolling"
    kubernetes: KubernetesTarget | None = None
    command: CommandTarget | None = None
    requesters: list[SlackTarget] | None = Field(
        default=None, description="Who may request (default: access.deployers)."
    )
    approvers: list[SlackTarget] = Field(default_factory=list)
    approvals: int | None = Field(
        default=None, ge=0, le=5, description="Approvals needed (default 2 for production, else 1)."
    )
    approval_expiry_minutes: float = Field(default=30, gt=0)
    break_glass: BreakGlass | None = None
    immediate_rollback_severities: tuple[Literal["sev0", "sev1", "sev2", "sev3"], ...] = Field(
        default=("sev0", "sev1"),
        description="During an open incident of these severities, --immediate skips approval.",
    )
    rollback_approval: Literal["none", "approvals"] = Field(
        default="none",
        description="The Rollback button on a finished deployment: none rolls back at once"
        " (any deployer may click); approvals files a rollback request through this"
        " environment's approval gate, except during an open incident of"
        " immediate_rollback_severities.",
    )
    checks: list[Check] = Field(
        default_factory=list, description="Pre-deploy checks (smoke, dry-run)."
    )
    backup: Argv | None = None
    env: CommandEnvironment = Field(
        default_factory=CommandEnvironment,
        description="Variables passed to this environment's commands besides the minimal set.",
    )
    health_checks: list[HealthCheck] = Field(default_factory=list)
    verify_seconds: float = Field(default=60, ge=0)
    verify_interval_seconds: float = Field(default=5, gt=0)
    analysis: AnalysisSettings | None = Field(
        default=None,
        description="Metric analysis during verification (default rules: HighErrorRateAfterDeploy,"
        " ResponseTimeRegression); a failed analysis rolls back.",
    )

    @model_validator(mode="after")
    def _backend_configured(self) -> EnvironmentSettings:
        if self.backend == "kubernetes" and self.kubernetes is None:
            raise ValueError("backend kubernetes needs a `kubernetes:` section")
        if self.backend == "command" and self.command is None:
            raise ValueError("backend command needs a `command:` section")
        if self.strategy == "blue-green" and (
            self.kubernetes is None or self.kubernetes.blue_green is None
        ):
            raise ValueError("strategy blue-green needs kubernetes.blue_green")
        if self.strategy == "canary" and (
            self.kubernetes is None or self.kubernetes.canary is None
        ):
            raise ValueError("strategy canary needs kubernetes.canary")
        if self.strategy != "rolling" and self.backend == "command":
            raise ValueError(
                "the command backend deploys with its own script: use strategy rolling"
            )
        return self

    def required_approvals(self, environment: str) -> int:
        if self.approvals is not None:
            return self.approvals
        return 2 if environment in ("production", "prod") else 1
