"""How the bot reaches a Kubernetes API server (deploy targets and the Lease lock alike)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiServerConnection(Section):
    """Where a Kubernetes API server is and whose credentials to use."""

    context: str | None = Field(default=None, description="kubeconfig context (default: current).")
    kubeconfig: str | None = None
    in_cluster: bool = False
    host: str | None = Field(default=None, description="API server URL, for tests and proxies.")


class NamespacedConnection(ApiServerConnection):
    """An API server and the namespace the bot works in there."""

    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
