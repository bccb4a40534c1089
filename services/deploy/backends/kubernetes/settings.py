"""The Kubernetes backend's section of an environment: `kubernetes:`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from services.deploy.analysis.settings import AnalysisSettings
from services.deploy.settings import Section
from services.kube.settings import NamespacedConnection


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


class KubernetesTarget(NamespacedConnection):
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
