"""The Kubernetes client's errors, as in kopf's ``_cogs/clients``::

    KubeError (a DeployError: message + hint, `changed`, `retryable`)
    ├── KubeNotFoundError      404
    ├── KubeConflictError      409 - retryable
    ├── KubeForbiddenError     401/403 - the bot's RBAC or credentials
    └── KubeUnavailableError   5xx, 429, connection problems - retryable

A refused request changes nothing, so these errors say ``changed=False``; a
caller that already changed the cluster earlier says otherwise. Messages say
what failed and what to do, and never carry credentials or request headers.
"""

from __future__ import annotations

import json
import re

from kubernetes.client.exceptions import ApiException

from services.errors import DeployError


class KubeError(DeployError):
    """A Kubernetes API request failed; nothing was changed by that request."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        changed: bool = False,
        retryable: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint, changed=changed, retryable=retryable)
        self.status = status


class KubeNotFoundError(KubeError):
    """The object does not exist (404)."""


class KubeConflictError(KubeError):
    """Someone else changed the object meanwhile (409): read it again and retry."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = 409) -> None:
        super().__init__(message, hint=hint, retryable=True, status=status)


class KubeForbiddenError(KubeError):
    """The cluster refused the bot (403), or did not accept its credentials (401)."""


class KubeUnavailableError(KubeError):
    """The API server is unreachable or failing (5xx, 429, connection errors): retry later."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint, retryable=True, status=status)


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """Drop ``user:password@`` from any URL in the text."""
    return _USERINFO.sub("", text)


def status_message(exc: ApiException) -> str:
    """The API server's own explanation (its ``Status.message``), never the headers."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            status = json.loads(body)
        except ValueError:
            return redact(body.strip()[:300])
        if isinstance(status, dict) and status.get("message"):
            return redact(str(status["message"])[:500])
    return str(exc.reason or f"HTTP {exc.status}")


def from_api_exception(exc: ApiException, what: str, where: str, rbac: str) -> KubeError:
    code = int(exc.status or 0)
    reason = status_message(exc)
    if code == 0:  # TLS and other transport problems the client folds into ApiException
        return KubeUnavailableError(
            f"Could not {what}: cannot reach the Kubernetes API: {reason}",
            hint="Check the cluster address and its certificate in the kubeconfig, then retry.",
        )
    if code == 401:
        return KubeForbiddenError(
            f"Could not {what}: the cluster did not accept the bot's credentials: {reason}",
            hint="Renew the token or kubeconfig the bot uses (kubernetes.kubeconfig / in-cluster service account).",
            status=code,
        )
    if code == 403:
        return KubeForbiddenError(
            f"Could not {what}: the cluster refused: {reason}; check the bot's RBAC",
            hint=f"The bot needs {rbac} in namespace {where}: add it to the Role bound to the bot's"
            " service account (or user), or ask a cluster admin.",
            status=code,
        )
    if code == 404:
        return KubeNotFoundError(
            f"Could not {what}: {reason}",
            hint=f"Check kubernetes.namespace and kubernetes.deployment in the config against namespace {where}.",
            status=code,
        )
    if code == 409:
        return KubeConflictError(
            f"Could not {what}: {reason}",
            hint="Someone changed it at the same moment; retrying usually works.",
        )
    if code == 429 or code >= 500:
        return KubeUnavailableError(
            f"Could not {what}: the API server answered {code}: {reason}",
            hint="The cluster is overloaded or failing; retry in a minute.",
            status=code,
        )
    if code == 422:
        return KubeError(
            f"Could not {what}: the cluster rejected the change as invalid: {reason}",
            hint="Check the image and container settings in the config.",
            status=code,
        )
    return KubeError(f"Could not {what}: the API server answered {code}: {reason}", status=code)


def transport_reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or exc
    text = str(inner)
    # urllib3 prefixes the connection object's repr; the end says what happened.
    return redact(text.rsplit(": ", 1)[-1] if ": " in text else text)[:200]
