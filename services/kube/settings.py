"""How the bot reaches a Kubernetes API server (deploy targets and the Lease lock alike)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiServerConnection(Section):
    """Where a Kubernetes API server is and whose credentials to use."""

    context: str | None = Field(default=None, description="kubeconfig context (default: current).")
    kubeconfig: str | None = None
    in_cluster: bool = False
    host: str | None = Field(default=None, description="API server URL, for tests and proxies.")

    def missing_kubeconfig_files(self, cwd: Path) -> list[str]:
        """check-config: the kubeconfig files that are not there (one, or several joined
        like $KUBECONFIG, a:b), relative to `cwd`."""
        missing = []
        for name in filter(None, (self.kubeconfig or "").split(os.pathsep)):
            path = cwd / Path(name).expanduser()
            try:
                if path.is_file():
                    continue
            except OSError:  # a name too long: the client could not read it either
                pass
            missing.append(str(path))
        return missing


class NamespacedConnection(ApiServerConnection):
    """An API server and the namespace the bot works in there."""

    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
