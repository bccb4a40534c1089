"""The Argo Rollouts backend's section of an environment: `argo_rollouts:`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.kube.settings import NamespacedConnection


class ArgoRolloutsTarget(NamespacedConnection):
    """One `Rollout` (argoproj.io/v1alpha1) whose container image the bot sets."""

    rollout: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", description="The Rollout's name."
    )
    container: str = Field(default="app", description="The container whose image is set.")
    image: str = Field(description="Image repository; the version becomes the tag.")
    rollback: Literal["undo", "abort"] = Field(
        default="undo",
        description="undo: abort an update in flight, then put the previous revision's pod"
        " template back (`kubectl argo rollouts undo`); abort: only abort, leaving the spec to"
        " the team's GitOps tool.",
    )
    step_timeout_seconds: float = Field(
        default=900,
        gt=0,
        description="How long the Rollout may stay on one step; a pause waiting for a person"
        " (an untimed pause, Pause on the card) does not count.",
    )
    poll_interval_seconds: float = Field(default=2, gt=0)
    card_update_seconds: float = Field(
        default=15, ge=0, description="Edit the card at most this often for time alone."
    )
