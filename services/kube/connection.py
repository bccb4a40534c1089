"""How the bot reaches an API server: a kubeconfig, the in-cluster service account, or a bare
`host` (tests, `kubectl proxy`), and what every request carries (timeouts, user agent)."""

from __future__ import annotations

import kubernetes.client
import kubernetes.config

from services.kube.errors import KubeError, redact
from services.kube.settings import ApiServerConnection

# (connect, read) seconds: a hung API server must not hold the bot's worker forever.
REQUEST_TIMEOUT = (10.0, 30.0)
FIELD_MANAGER = "hotfix-bot"
# The cluster's audit log (and the tests' RBAC check) can tell the bot's requests apart.
USER_AGENT = "hotfix-bot/0.1 (kubernetes-python)"


def build_api_client(target: ApiServerConnection) -> kubernetes.client.ApiClient:
    """An ApiClient for the target: `host` alone (tests, `kubectl proxy`), in-cluster, or kubeconfig.

    With `host` and a kubeconfig/context or in_cluster, the credentials come from the
    latter and `host` overrides the server address.
    """
    config = kubernetes.client.Configuration()
    try:
        if target.in_cluster:
            kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
        elif target.kubeconfig or target.context or not target.host:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=target.kubeconfig,
                context=target.context,
                client_configuration=config,
            )
    except Exception as exc:  # a boundary: any way of failing to load is a config problem
        source = (
            "the in-cluster service account"
            if target.in_cluster
            else f"kubeconfig {target.kubeconfig or '(default)'}"
            + (f", context {target.context}" if target.context else "")
        )
        # A parse error may quote the file (and its token): only say what kind of error it was.
        known = isinstance(exc, kubernetes.config.ConfigException | OSError)
        reason = redact(str(exc))[:200] if known else f"{type(exc).__name__} while reading it"
        raise KubeError(
            f"Cannot load the Kubernetes configuration from {source}: {reason}",
            hint="Set kubernetes.kubeconfig / kubernetes.context, or kubernetes.in_cluster: true, for this environment.",
        ) from None
    if target.host:
        config.host = target.host.rstrip("/")
    client = kubernetes.client.ApiClient(config)
    client.user_agent = USER_AGENT
    return client
