"""How each service is deployed, per environment."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails

from services.deploy.analysis.settings import AnalysisSettings
from services.patterns import HttpUrlText

SlackTarget = Annotated[str, Field(pattern=r"^([UWS][A-Z0-9]{2,})$")]
Argv = list[Annotated[str, Field(min_length=1)]]
# A command to run: at least its program.
Program = Annotated[Argv, Field(min_length=1)]


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


class Check(Section):
    name: str
    argv: Argv = Field(min_length=1)
    timeout_seconds: float = Field(default=300, gt=0)


class HealthCheck(Section):
    url: HttpUrlText
    expect_status: int = Field(default=200, ge=100, le=599)
    body_contains: str | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)


# A name people type (`--test-suite=critical-path`, `--endpoints=critical`) and read on cards.
GroupName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


def _commands(value: Any) -> Any:
    """`[./purge-cdn.sh, "{version}"]` (one argv), `[[a], [b]]` (several) or checks by name.

    Each becomes a named Check: the name is what the card and the timeline show, by default
    the program's file name.
    """
    if not isinstance(value, list) or not value:
        return value
    if all(isinstance(arg, str) for arg in value):
        value = [value]
    named = []
    for item in value:
        if isinstance(item, list) and item and isinstance(item[0], str):
            item = {"name": Path(item[0]).name or item[0], "argv": item}
        named.append(item)
    return named


# A list of commands run one after the other (smoke tests, hooks, a suite's checks).
Commands = Annotated[list[Check], BeforeValidator(_commands)]


class MigrationSettings(Section):
    """A service's database migrations: argv lists run with the environment's command env.

    {version}, {service}, {environment} and {deployment_id} are filled in (services.deploy.process).
    """

    check: Program | None = Field(
        default=None, description="Dry-run of the pending migrations (run by /hotfix validate)."
    )
    up: Program | None = Field(
        default=None, description="Apply: after the backup, before the rollout."
    )
    down: Program | None = Field(
        default=None, description="Revert, on rollback (not with --preserve-data)."
    )
    verify: Program | None = Field(
        default=None, description="After down: is the schema as expected?"
    )
    snapshot: Program | None = Field(
        default=None,
        description="The emergency dump when down or verify fails; prints where it went.",
    )
    timeout_seconds: float = Field(default=1800, gt=0)


class BreakGlass(Section):
    severities: tuple[Literal["sev0", "sev1"], ...] = ("sev0",)
    approvals: int = Field(default=1, ge=0, le=5)


Strategy = Literal["rolling", "blue-green", "canary"]
STRATEGIES: tuple[Strategy, ...] = ("rolling", "blue-green", "canary")
# Where the validated backend sections are kept; never a key of the config file.
SECTIONS = "backend_sections"


class EnvironmentSettings(Section):
    backend: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Which backend deploys here (command, kubernetes...); its section of the"
        " same name configures it.",
    )
    strategy: Strategy = "rolling"
    backend_sections: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
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
    # -- the pipeline (README "Pipeline") -----------------------------------------------
    suites: dict[GroupName, Commands] = Field(
        default_factory=dict,
        description="Named test suites for /hotfix validate --test-suite=NAME, e.g."
        " {critical-path: [[./tests/critical.sh, '{version}']]}.",
    )
    endpoints: dict[GroupName, list[HealthCheck]] = Field(
        default_factory=dict,
        description="Named endpoint groups for /hotfix verify --endpoints=NAME.",
    )
    requires: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]] = Field(
        default_factory=list,
        description="Environments a version must have passed first (validated, deployed and"
        " verified there) before it may be deployed here.",
    )
    requires_ci: bool = Field(
        default=False, description="A deploy needs a green CI run for the version's commit."
    )
    ci_wait_minutes: float = Field(
        default=30, gt=0, description="How long an approved deploy waits for a running CI run."
    )
    smoke: Commands = Field(
        default_factory=list,
        description="Smoke tests after the rollout, before the verification window.",
    )
    after_deploy: Commands = Field(
        default_factory=list,
        description="Hooks after a successful deploy (cache invalidation, CDN purge...).",
    )
    after_rollback: Commands = Field(
        default_factory=list, description="Hooks after a rollback (cache invalidation...)."
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from services.deploy import registry

        if value not in registry.BACKENDS:
            close = difflib.get_close_matches(value, list(registry.BACKENDS), n=1)
            known = ", ".join(registry.BACKENDS)
            also = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown backend {value!r}{also}: the backends are {known}")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _validate_backend_sections(
        cls, data: Any, handler: ModelWrapValidatorHandler[EnvironmentSettings]
    ) -> EnvironmentSettings:
        # Each backend's section (`kubernetes:`, `command:`...) is validated by the model its
        # package declares: this class names no backend. The registry is imported here, not
        # at the top, because the backends' settings build on this module. A section's
        # problems are reported together with the rest of the environment's, at their path.
        from services.deploy import registry

        if not isinstance(data, dict):
            return handler(data)
        if SECTIONS in data:
            raise ValueError(f"{SECTIONS} is not a configuration key")
        rest = dict(data)
        sections: dict[str, Any] = {}
        errors: list[InitErrorDetails] = []
        for name, backend_type in registry.BACKENDS.items():
            if name not in rest:
                continue
            raw = rest.pop(name)
            try:
                sections[name] = backend_type.settings_model.model_validate(raw)
            except ValidationError as exc:
                sections[name] = None  # present but invalid: said below, at its own path
                errors += _located(exc, under=(name,))
        rest[SECTIONS] = sections
        try:
            validated = handler(rest)
        except ValidationError as exc:
            errors += _located(exc, under=())
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return validated

    @model_validator(mode="after")
    def _backend_configured(self) -> EnvironmentSettings:
        from services.deploy import registry

        backend_type = registry.backend_type(self.backend)
        if self.target is None:
            if self.backend in self.backend_sections:
                return self  # its section is invalid: its own errors say why
            raise ValueError(f"backend {self.backend} needs a `{self.backend}:` section")
        problems = backend_type.problems(self.target, self.strategy)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_serializer(mode="wrap")
    def _with_backend_sections(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # Written out as the file spells it: each backend's section under its own key.
        data: dict[str, Any] = handler(self)
        for name, section in self.backend_sections.items():
            data[name] = section.model_dump(
                mode=info.mode,
                by_alias=bool(info.by_alias),
                exclude_none=info.exclude_none,
                exclude_defaults=info.exclude_defaults,
                exclude_unset=info.exclude_unset,
            )
        return data

    @property
    def target(self) -> Any:
        """The chosen backend's section, as its own settings model validated it."""
        return self.backend_sections.get(self.backend)

    def section(self, name: str) -> Any:
        """A backend's section when the environment has one (even if not the chosen backend)."""
        return self.backend_sections.get(name)

    def required_approvals(self, environment: str) -> int:
        if self.approvals is not None:
            return self.approvals
        return 2 if environment in ("production", "prod") else 1


def _located(exc: ValidationError, *, under: tuple[str, ...]) -> list[InitErrorDetails]:
    """A nested model's errors, placed under `under` in the environment's own errors."""
    return [
        InitErrorDetails(
            type=error["type"],
            loc=(*under, *error["loc"]),
            input=error["input"],
            ctx=error.get("ctx", {}),
        )
        for error in exc.errors()
    ]
