"""The only module that talks to the Kubernetes API (the official `kubernetes` client, sync).

Objects come back as the JSON the API server sent (``dict``), not as the client's
models: a pod template copied back into a Deployment (``rollout undo``) must keep
every field, including ones newer than this client's models.

Errors form their own tree, as in kopf's ``_cogs/clients``::

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

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import kubernetes.client
import kubernetes.config
import urllib3
from kubernetes.client.exceptions import ApiException

from services.errors import DeployError
from services.kube.settings import ApiServerConnection, NamespacedConnection

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON = "application/json"  # a create or replace: the whole object

REVISION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
FIELD_MANAGER = "hotfix-bot"
# (connect, read) seconds: a hung API server must not hold the bot's worker forever.
REQUEST_TIMEOUT = (10.0, 30.0)


# --------------------------------------------------------------------------- errors


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


def _status_message(exc: ApiException) -> str:
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


def _from_api_exception(exc: ApiException, what: str, where: str, rbac: str) -> KubeError:
    code = int(exc.status or 0)
    reason = _status_message(exc)
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


def _transport_reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or exc
    text = str(inner)
    # urllib3 prefixes the connection object's repr; the end says what happened.
    return redact(text.rsplit(": ", 1)[-1] if ": " in text else text)[:200]


# --------------------------------------------------------------------------- configuration


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
    # The cluster's audit log (and the tests' RBAC check) can tell the bot's requests apart.
    client.user_agent = USER_AGENT
    return client


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector object as the ``labelSelector`` query string (``a=b,c in (d,e)``)."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr["key"], expr["operator"]
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def revision_of(obj: Mapping[str, Any]) -> int:
    """The ``deployment.kubernetes.io/revision`` annotation of a Deployment or ReplicaSet (0 if none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get(REVISION, "0"))
    except ValueError:
        return 0


# --------------------------------------------------------------------------- the client


class KubeClient:
    """Typed calls on one namespace. Use `KubeClient.connect(target)` as a context manager."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.apps = kubernetes.client.AppsV1Api(api_client)
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.coordination = kubernetes.client.CoordinationV1Api(api_client)
        host = str(getattr(api_client.configuration, "host", "") or "")
        self.host = redact(host)

    @classmethod
    @contextmanager
    def connect(cls, target: NamespacedConnection) -> Iterator[KubeClient]:
        api_client = build_api_client(target)
        try:
            yield cls(api_client, namespace=target.namespace)
        finally:
            api_client.close()  # type: ignore[no-untyped-call]

    # -- plumbing ------------------------------------------------------------

    def _call(
        self,
        what: str,
        request: Callable[..., Any],
        *args: Any,
        rbac: str,
        write: bool = False,
        **kwargs: Any,
    ) -> Any:
        try:
            try:
                response = request(
                    *args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs
                )
            except ApiException as exc:
                raise _from_api_exception(exc, what, self.namespace, rbac) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise KubeUnavailableError(
                    f"Could not {what}: cannot reach the Kubernetes API at {self.host}:"
                    f" {_transport_reason(exc)}",
                    hint="Check kubernetes.host / the kubeconfig and the network path to the cluster, then retry.",
                ) from None
        except KubeUnavailableError as exc:
            if write and exc.status != 429:
                # The request may have been applied before the answer got lost.
                exc.changed = True
                exc.message += " The change may or may not have been applied."
            raise
        try:
            raw = response.data
        finally:
            response.release_conn()
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise KubeUnavailableError(
                f"Could not {what}: the API server at {self.host} did not answer JSON.",
                hint="Check that kubernetes.host points at the Kubernetes API, not a web page.",
            ) from None

    def _where(self, kind: str, name: str) -> str:
        return f"{kind} {self.namespace}/{name}"

    # -- Deployments ---------------------------------------------------------

    def get_deployment(self, name: str) -> Obj:
        result: Obj = self._call(
            f"read {self._where('Deployment', name)}",
            self.apps.read_namespaced_deployment,
            name,
            self.namespace,
            rbac='"get" on deployments.apps',
        )
        return result

    def set_image(self, name: str, container: str, image: str) -> Obj:
        """Strategic merge patch of one container's image, by name; other containers untouched."""
        body = {
            "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}
        }
        result: Obj = self._call(
            f"set the image of {self._where('Deployment', name)}",
            self.apps.patch_namespaced_deployment,
            name,
            self.namespace,
            body,
            field_manager=FIELD_MANAGER,
            write=True,
            _content_type=STRATEGIC_MERGE_PATCH,
            rbac='"patch" on deployments.apps',
        )
        return result

    def restore_template(
        self, name: str, template: Obj, annotations: dict[str, str], *, had_annotations: bool
    ) -> Obj:
        """`kubectl rollout undo`'s patch: a JSON patch replacing /spec/template and the annotations."""
        ops = [
            {"op": "replace", "path": "/spec/template", "value": template},
            # "add" sets the member whether or not it exists; "replace" needs it to exist.
            {
                "op": "replace" if had_annotations else "add",
                "path": "/metadata/annotations",
                "value": annotations,
            },
        ]
        result: Obj = self._call(
            f"restore the pod template of {self._where('Deployment', name)}",
            self.apps.patch_namespaced_deployment,
            name,
            self.namespace,
            ops,
            field_manager=FIELD_MANAGER,
            write=True,
            _content_type=JSON_PATCH,
            rbac='"patch" on deployments.apps',
        )
        return result

    def scale(self, name: str, replicas: int) -> Obj:
        """Set spec.replicas through the /scale subresource (a merge patch, like `kubectl scale`)."""
        result: Obj = self._call(
            f"scale {self._where('Deployment', name)} to {replicas}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            self.namespace,
            {"spec": {"replicas": replicas}},
            field_manager=FIELD_MANAGER,
            write=True,
            _content_type=MERGE_PATCH,
            rbac='"patch" on deployments.apps/scale',
        )
        return result

    def replica_sets(self, deployment: Obj) -> list[Obj]:
        """The ReplicaSets this Deployment controls (by its selector and owner uid), oldest revision first."""
        meta = deployment["metadata"]
        selector = label_selector((deployment.get("spec") or {}).get("selector") or {})
        listing = self._call(
            f"list the ReplicaSets of {self._where('Deployment', meta['name'])}",
            self.apps.list_namespaced_replica_set,
            self.namespace,
            label_selector=selector,
            rbac='"list" on replicasets.apps',
        )
        owned = [
            rs
            for rs in listing.get("items") or []
            if any(
                ref.get("uid") == meta.get("uid") and ref.get("controller")
                for ref in (rs.get("metadata") or {}).get("ownerReferences") or []
            )
        ]
        return sorted(owned, key=lambda rs: (revision_of(rs), rs["metadata"]["name"]))

    def pods(self, selector: Mapping[str, Any]) -> list[Obj]:
        listing = self._call(
            f"list pods in namespace {self.namespace}",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=label_selector(selector),
            rbac='"list" on pods',
        )
        items: list[Obj] = listing.get("items") or []
        return items

    # -- Services ------------------------------------------------------------

    def get_service(self, name: str) -> Obj:
        result: Obj = self._call(
            f"read {self._where('Service', name)}",
            self.core.read_namespaced_service,
            name,
            self.namespace,
            rbac='"get" on services',
        )
        return result

    def set_service_selector(self, name: str, labels: dict[str, str]) -> Obj:
        """Change some of the Service's selector labels (strategic merge: the others stay)."""
        result: Obj = self._call(
            f"switch the selector of {self._where('Service', name)}",
            self.core.patch_namespaced_service,
            name,
            self.namespace,
            {"spec": {"selector": labels}},
            field_manager=FIELD_MANAGER,
            write=True,
            _content_type=STRATEGIC_MERGE_PATCH,
            rbac='"patch" on services',
        )
        return result

    # -- Istio VirtualServices (custom objects) ---------------------------------

    def get_virtual_service(
        self, name: str, *, group: str = "networking.istio.io", version: str = "v1beta1"
    ) -> Obj:
        result: Obj = self._call(
            f"read {self._where('VirtualService', name)}",
            self.custom.get_namespaced_custom_object,
            group,
            version,
            self.namespace,
            "virtualservices",
            name,
            rbac=f'"get" on virtualservices.{group}',
        )
        return result

    def patch_virtual_service(
        self,
        name: str,
        operations: list[Obj],
        *,
        group: str = "networking.istio.io",
        version: str = "v1beta1",
    ) -> Obj:
        """One JSON patch (RFC 6902) of a VirtualService: custom objects take no strategic merge
        patch, and a JSON patch can carry ``test`` operations, so a route rewritten by someone
        else since we read it makes the whole patch fail instead of being clobbered."""
        result: Obj = self._call(
            f"change the routes of {self._where('VirtualService', name)}",
            self.custom.patch_namespaced_custom_object,
            group,
            version,
            self.namespace,
            "virtualservices",
            name,
            operations,
            field_manager=FIELD_MANAGER,
            write=True,
            _content_type=JSON_PATCH,
            rbac=f'"patch" on virtualservices.{group}',
        )
        return result

    # -- Leases (the bot's own single-instance lock) ----------------------------
    # A Lease body goes out as the dict built here, not through the client's model: the
    # generated methods (pydantic validate_call) turn a dict into V1Lease, whose datetimes
    # serialize with isoformat() - no fraction when the microseconds are 0, which the API
    # server refuses for a MicroTime (it wants exactly six digits). The generated create and
    # replace send no Content-Type at all (they ignore `_content_type`): it is set here.

    def get_lease(self, name: str) -> Obj:
        result: Obj = self._call(
            f"read {self._where('Lease', name)}",
            self.coordination.read_namespaced_lease,
            name,
            self.namespace,
            rbac='"get" on leases.coordination.k8s.io',
        )
        return result

    def create_lease(self, body: Obj) -> Obj:
        """POST a new Lease; KubeConflictError (409 AlreadyExists) when someone created it first."""
        result: Obj = self._call(
            f"create {self._where('Lease', body['metadata']['name'])}",
            _unvalidated(self.coordination.create_namespaced_lease),
            self.namespace,
            body,
            field_manager=FIELD_MANAGER,
            write=True,
            _headers={"Content-Type": JSON},  # a fresh dict: the client adds to it
            rbac='"create" on leases.coordination.k8s.io',
        )
        return result

    def replace_lease(self, name: str, body: Obj) -> Obj:
        """PUT the whole Lease; its metadata.resourceVersion makes it a compare-and-swap
        (KubeConflictError when someone wrote it since we read it)."""
        result: Obj = self._call(
            f"update {self._where('Lease', name)}",
            _unvalidated(self.coordination.replace_namespaced_lease),
            name,
            self.namespace,
            body,
            field_manager=FIELD_MANAGER,
            write=True,
            _headers={"Content-Type": JSON},  # a fresh dict: the client adds to it
            rbac='"update" on leases.coordination.k8s.io',
        )
        return result


def _unvalidated(method: Callable[..., Any]) -> Callable[..., Any]:
    """A generated API method without pydantic's argument coercion, where it has one."""
    raw = getattr(method, "raw_function", None)
    owner = getattr(method, "__self__", None)
    return functools.partial(raw, owner) if raw is not None and owner is not None else method
