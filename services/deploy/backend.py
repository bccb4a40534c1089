"""The port between the deploy engine and its backends (a script, Kubernetes, Argo Rollouts).

* `Backend` - one deployment's target: read what runs, deploy, roll back.
* `DeployContext` - what a backend may use from around it while it works: the people's
  controls (Promote, Pause, Abort), the live state it reports for the card, the war room,
  the timeline. This base keeps everything in memory and talks to nobody (backend tests,
  dry runs); the engine gives a store-backed one (services.deploy.context).
* `BackendType` - what each backend package declares: its name (the `backend:` value and
  its config section), its settings model, the strategies it supports, its checks of the
  configuration, and how to build a `Backend`. The registry lists them; the engine and
  the settings ask the registry and never name a backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

from services.clock import Clock
from services.deploy.live import CanaryState
from services.errors import DeployError

if TYPE_CHECKING:  # services.settings builds on the backends' settings
    from services.settings import Settings
    from services.store import Store


Progress = Callable[[str], None]  # a line for the deployment card
ShouldAbort = Callable[[], bool]  # someone pressed Rollback while we wait


@dataclass(frozen=True)
class Running:
    """What the target runs now, as far as the backend can tell."""

    summary: str
    version: str | None = None
    image: str | None = None
    revision: str | None = None
    color: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "version": self.version,
            "image": self.image,
            "revision": self.revision,
            "color": self.color,
            **self.extra,
        }


class AlreadyThereError(DeployError):
    """The rollback found the target already at what it aims at; nothing was changed.

    `kubectl rollout undo` answers this "skipped rollback" and exits 0: not a failure,
    and no reason to page anyone.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, changed=False)


class AbortedError(DeployError):
    """Someone asked for a rollback while the step was running."""


class Backend(Protocol):
    def current(self) -> Running:
        """Read what runs now (also used to reconcile after a restart)."""
        ...

    def validate(self, version: str) -> list[str]:
        """Built-in pre-deployment checks; problems, or [] when the target is ready."""
        ...

    def consistency(self) -> list[str]:
        """What the target runs against what the config says it should (/hotfix validate):
        the object exists, its image comes from the configured repository, every desired
        replica is ready; problems, or [] when they agree. Reads only, changes nothing."""
        ...

    def deploy(
        self, version: str, *, progress: Progress, should_abort: ShouldAbort
    ) -> dict[str, Any]:
        """Roll out `version`; returns what the rollback needs to know. Raises DeployError."""
        ...

    def rollback(
        self,
        *,
        to_version: str | None,
        before: dict[str, Any],
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> dict[str, Any]:
        """Go back to `to_version`, or to what ran `before` the deployment when None."""
        ...


# --------------------------------------------------------------------------- the context

# The `canary_paused` column: why a progressive deployment holds its current weight.
RUNNING, PAUSED_BY_PERSON, WAITING_FOR_DECISION = 0, 1, 2


@dataclass(frozen=True)
class Controls:
    """The flags people set with the buttons, as a backend reads them at every poll."""

    paused: int = RUNNING  # RUNNING, PAUSED_BY_PERSON or WAITING_FOR_DECISION
    reason: str | None = None
    promote: bool = False

    @property
    def holding(self) -> bool:
        return self.paused != RUNNING


class DeployContext:
    """In memory: the backend works alone (no store, no chat). The engine's is store-backed."""

    def __init__(self, *, service: str | None = None, recorded: CanaryState | None = None):
        self.service = service
        self._recorded = recorded
        self.flags = Controls()
        self.reports: list[CanaryState] = []
        self.announcements: list[str] = []
        self.events: list[tuple[str, str]] = []

    def recorded(self) -> CanaryState | None:
        """The live state persisted by an earlier run of this deployment (to resume), or None."""
        return self._recorded

    def controls(self) -> Controls:
        return self.flags

    def hold(self, reason: str) -> None:
        """Pause for a human decision (an inconclusive analysis)."""
        self.flags = Controls(WAITING_FOR_DECISION, reason, self.flags.promote)

    def release(self) -> None:
        """Forget a pause: a person resumed the whole deployment after an interruption."""
        self.flags = Controls(RUNNING, None, self.flags.promote)

    def report(self, state: CanaryState, *, material: bool, force: bool = False) -> None:
        """Persist the live state; `material` when something a person cares about changed."""
        self._recorded = state
        if material or force:
            self.reports.append(state)

    def announce(self, text: str) -> None:
        """Tell the war room."""
        self.announcements.append(text)

    def event(self, kind: str, text: str, data: Mapping[str, Any], *, audit: bool = False) -> None:
        """A timeline entry (and an audit row for the bot's own decisions that matter)."""
        self.events.append((kind, text))


# --------------------------------------------------------------------------- the registry's view


@dataclass(frozen=True)
class BuildOrder:
    """What a backend is built for: one deployment of one service to one environment."""

    service: str
    environment: str
    strategy: str
    # "deploy" or "rollback": what `rollback(to_version=None)` means - undo this deployment
    # (back to what ran before it), or roll back one release (`kubectl rollout undo`).
    kind: str
    clock: Clock
    context: DeployContext
    # The environment of the backend's child processes (services.deploy.process).
    child_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfigFinding:
    """A problem `check-config` reports, at a path under the backend's section."""

    where: tuple[str | int, ...]
    problem: str


@dataclass
class Tidied:
    """What one round of a backend's housekeeping did, for the bot's log."""

    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # retried on the next tick


class BackendType:
    """One kind of backend, as its package declares it; subclassed once per package."""

    # The `backend:` value, and the key of its section in an environment's config.
    name: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]
    strategies: ClassVar[tuple[str, ...]]
    # Strategies a deployment may ask for (`--strategy=`) instead of the environment's own.
    switchable: ClassVar[tuple[str, ...]] = ()
    # Whether the target keeps its own history ("previous" is the backend's to resolve, as
    # `kubectl rollout undo`); when not, the bot's records say what ran before.
    keeps_history: ClassVar[bool] = True

    def problems(self, settings: Any, strategy: str) -> list[str]:
        """Why this configured target cannot deploy with `strategy`; [] when it can.

        Asked when the config is loaded (for the environment's strategy) and when someone
        asks for another one (`--strategy=`), so both refuse with the same words.
        """
        if strategy not in self.strategies:
            supported = ", ".join(self.strategies)
            return [f"the {self.name} backend deploys with strategy {supported}, not {strategy}"]
        return []

    def build(self, settings: Any, order: BuildOrder) -> Backend:
        raise NotImplementedError

    def previous_needs_a_version(self, settings: Any) -> bool:
        """Without history: whether a rollback to "previous" must name the version."""
        return False

    def child_environment(self, settings: Any) -> dict[str, str]:
        """Fixed variables this target's commands need (KUBECONFIG for a cluster)."""
        return {}

    def query_values(self, settings: Any) -> dict[str, str]:
        """Placeholders for analysis queries ({namespace}...), besides service and version."""
        return {}

    def card_update_seconds(self, settings: Any) -> float:
        """How often the card is edited for time alone while the backend reports progress."""
        return 15.0

    def tidy(self, *, store: Store, clock: Clock, settings: Settings) -> Tidied:
        """Periodic housekeeping on the scheduler's tick (idle blue-green colours...)."""
        return Tidied()

    def findings(
        self,
        settings: Any,
        *,
        values: dict[str, str],
        cwd: Path,
        child_env: Mapping[str, str],
    ) -> list[ConfigFinding]:
        """check-config: files and programs this target names, located (services.preflight).

        `values` fill the placeholders of its commands, which start in `cwd` (the bot's
        directory) with `child_env` (services.deploy.process.environment_for).
        """
        return []


class ClusterBackendType(BackendType):
    """A backend whose target is a namespace of a Kubernetes cluster.

    Its settings are a services.kube.settings.NamespacedConnection (read here by their
    attributes: the deploy core imports nothing of services.kube): the target's kubeconfig
    reaches the environment's scripts, its namespace the analysis queries, and check-config
    looks for the kubeconfig file.
    """

    def child_environment(self, settings: Any) -> dict[str, str]:
        # kubectl and helm in the team's checks find the same cluster as the bot.
        kubeconfig = settings.kubeconfig
        return {"KUBECONFIG": str(kubeconfig)} if kubeconfig else {}

    def query_values(self, settings: Any) -> dict[str, str]:
        return {"namespace": str(settings.namespace)}

    def findings(
        self,
        settings: Any,
        *,
        values: dict[str, str],
        cwd: Path,
        child_env: Mapping[str, str],
    ) -> list[ConfigFinding]:
        missing: list[str] = settings.missing_kubeconfig_files(cwd)
        return [
            ConfigFinding(("kubeconfig",), f"{path} is not an existing file") for path in missing
        ]
