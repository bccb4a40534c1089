"""The only module that talks to the Kubernetes API (the official `kubernetes` client, sync):
typed calls on one namespace, by API family (Deployments and their ReplicaSets and pods,
Services, Istio VirtualServices, Leases).

Objects come back as the JSON the API server sent (services.kube.objects); failures are
the error tree of services.kube.errors; how the API server is reached is
services.kube.connection. Their names stay importable from here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import kubernetes.client
import urllib3
from kubernetes.client.exceptions import ApiException

from services.kube.connection import (
    FIELD_MANAGER,
    REQUEST_TIMEOUT,
    USER_AGENT,
    build_api_client,
)
from services.kube.errors import (
    KubeConflictError,
    KubeError,
    KubeForbiddenError,
    KubeNotFoundError,
    KubeUnavailableError,
    from_api_exception,
    redact,
    transport_reason,
)
from services.kube.objects import (
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    POD_TEMPLATE_HASH,
    REVISION,
    STRATEGIC_MERGE_PATCH,
    Obj,
    label_selector,
    revision_of,
)
from services.kube.settings import NamespacedConnection

__all__ = [
    "FIELD_MANAGER",
    "JSON",
    "JSON_PATCH",
    "MERGE_PATCH",
    "POD_TEMPLATE_HASH",
    "REQUEST_TIMEOUT",
    "REVISION",
    "STRATEGIC_MERGE_PATCH",
    "USER_AGENT",
    "KubeClient",
    "KubeConflictError",
    "KubeError",
    "KubeForbiddenError",
    "KubeNotFoundError",
    "KubeUnavailableError",
    "Obj",
    "build_api_client",
    "label_selector",
    "redact",
    "revision_of",
]


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
                raise from_api_exception(exc, what, self.namespace, rbac) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise KubeUnavailableError(
                    f"Could not {what}: cannot reach the Kubernetes API at {self.host}:"
                    f" {transport_reason(exc)}",
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
