"""The Kubernetes API emulator for the deploy engine's tests.

The real ``kubernetes`` client talks real HTTP to it on ``127.0.0.1:<port>``.
It stores objects in memory and behaves like an API server where the deploy
engine can get it wrong: resourceVersion, generation, ``Status`` errors,
label selectors, the three patch content types, the ``/status`` and ``/scale``
subresources, defaulting and the validation that turns a bad request into 422,
and a small Deployment -> ReplicaSet -> Pod controller that tests drive with
``tick()`` instead of time.

Why not kmock's ``KubernetesEmulator``
-------------------------------------
DESIGN.md suggests extending kmock. Its source (kmock 0.8) was read first; it
fights this use in three ways, so this module stands on the standard
library's ``ThreadingHTTPServer`` instead:

* kmock is asyncio-only: ``kmock.Server`` is an ``async with`` around aiohttp's
  test server and its object store is guarded by an ``asyncio.Lock``. The
  deploy engine and its tests are synchronous, so every test-side call
  (``add_deployment``, ``tick``, ``script``) would have to be marshalled into an
  event loop owned by a helper thread.
* Entering a ``kmock.Server`` monkeypatches ``aiohttp.connector.TCPConnector``'s
  resolver for the whole process (its DNS interceptor), which would leak into
  anything else in the test process that uses aiohttp.
* ``KubernetesEmulator._handle`` changes the store *before* any user reaction
  runs, and it does so with one recursive dict merge for every PATCH whatever
  its content type (a JSON-patch list body cannot go through it), treats PUT as
  no action, and has no resourceVersion or label selectors. Extending it means
  overriding ``_handle`` and every ``_serve_*`` method, keeping only aiohttp's
  routing and kmock's path parser - less than this module needs to write anyway.

Departures from Kubernetes are listed in ``K8sEmulator``'s docstring. The API families live
in sibling modules (``apps``, ``core``, ``coordination``, ``custom``); this one holds the
lifecycle and the test-side API.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import re
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import kubernetes.client

from tests.harness.k8s.apps import MODES, DeploymentControllerMixin, Script
from tests.harness.k8s.errors import REASONS
from tests.harness.k8s.labels import label_selector_matches, parse_label_selector
from tests.harness.k8s.patches import merge_patch
from tests.harness.k8s.pods import PodsMixin
from tests.harness.k8s.records import Failure, RecordedRequest
from tests.harness.k8s.resources import (
    DEPLOYMENTS,
    LEASES,
    ROLLOUTS,
    SERVICES,
    VIRTUAL_SERVICES,
    ResourceType,
    resource_type,
)
from tests.harness.k8s.rollouts import ROLLOUT_MODES, RolloutControllerMixin, RolloutScript
from tests.harness.k8s.server import HttpMixin, _Server
from tests.harness.k8s.store import StoreMixin
from tests.harness.k8s.validation import ValidationMixin

DEFAULT_CANARY = {
    "canary": {
        "steps": [
            {"setWeight": 20},
            {"pause": {}},
            {"setWeight": 50},
            {"pause": {"duration": "10s"}},
        ]
    }
}


class K8sEmulator(
    HttpMixin,
    StoreMixin,
    ValidationMixin,
    DeploymentControllerMixin,
    PodsMixin,
    RolloutControllerMixin,
):
    """An in-memory Kubernetes API server on ``http://127.0.0.1:<port>``.

    Serves apps/v1 Deployments (with ``/status`` and ``/scale``) and ReplicaSets,
    v1 Services and Pods, networking.istio.io/v1beta1 VirtualServices as a
    custom resource, argoproj.io/v1alpha1 Rollouts (validated against their CRD, moved by
    a small Argo controller: see ``custom`` and ``rollouts``), and coordination.k8s.io/v1
    Leases (PUT needs a resourceVersion and creates an absent Lease; MicroTime fields need
    six fractional digits), all namespaced; namespaces exist implicitly.

    Departures from Kubernetes, on purpose:

    * no watch (``?watch=true`` answers 405), no server-side apply (415), no
      DELETE of collections, no Namespace objects, no authentication; JSON only.
    * unknown fields are stored, not dropped (Kubernetes drops them, or refuses
      them with ``fieldValidation=Strict``); the OpenAPI check in
      ``k8s_openapi`` is what catches them.
    * a no-op write (one that changes nothing) does not bump resourceVersion,
      as in Kubernetes; every other write does.
    * the ReplicaSet "controller" only exists inside the Deployment controller:
      ReplicaSets created directly through the API get no Pods. Rollouts move
      one replica per step (no surge) unless new pods never get ready, where
      maxSurge / maxUnavailable are honoured as Kubernetes does.
    * rollouts advance only on ``tick()``; pods carry fake IPs and image IDs.
    """

    def __init__(self, *, default_mode: str = "healthy") -> None:
        if default_mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.default_mode = default_mode
        self._lock = threading.RLock()
        self._objects: dict[tuple[ResourceType, str, str], dict[str, Any]] = {}
        self._rv = 1000
        self._requests: list[RecordedRequest] = []
        self._failures: list[Failure] = []
        self._scripts: dict[tuple[str, str], Script] = {}
        self._clients: list[kubernetes.client.ApiClient] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ips = itertools.count(10)
        self._pod_ids = itertools.count(1)
        self._pod_order: dict[tuple[str, str], int] = {}
        self._proven: set[str] = set()  # uids of ReplicaSets that were once fully available
        self.errors: list[str] = []  # tracebacks of the emulator's own bugs (answered 500)
        self._rollout_scripts: dict[tuple[str, str], RolloutScript] = {}
        self.pruned: list[str] = []  # custom-resource fields dropped as not in the CRD schema

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> K8sEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="k8s-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        for client in self._clients:
            client.close()  # type: ignore[no-untyped-call]
        self._clients.clear()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        for conn in list(server.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> K8sEmulator:
        return self.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()
        if exc_type is None and self.errors:
            raise AssertionError(
                "the Kubernetes emulator failed internally:\n" + "\n".join(self.errors)
            )

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def api_client(self) -> kubernetes.client.ApiClient:
        """A ``kubernetes.client.ApiClient`` pointed at this emulator (closed on stop())."""
        config = kubernetes.client.Configuration()
        config.host = self.url
        config.proxy = None  # never route 127.0.0.1 through an environment proxy
        client = kubernetes.client.ApiClient(config)
        self._clients.append(client)
        return client

    # ----------------------------------------------------------------- test API

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every HTTP request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_matching(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """The recorded requests with that method and a path matching ``path`` (re.search)."""
        pattern = re.compile(path) if path else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        reason: str | None = None,
        *,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Refuse the next ``times`` requests matching method and path (``re.search``).

        The request is answered with a ``Status`` of that code and reason and has no effect.
        """
        with self._lock:
            self._failures.append(
                Failure(
                    method.upper(),
                    re.compile(path_regex),
                    status,
                    reason or REASONS.get(status, "Unknown"),
                    message or f"injected failure: {status} {reason or REASONS.get(status, '')}",
                    times,
                )
            )

    def script(
        self, namespace: str, name: str, mode: str, *, ticks: int = 3, deadline_ticks: int = 3
    ) -> None:
        """How rollouts of this Deployment behave (it need not exist yet).

        ``healthy``: each tick one more new pod is available and one old pod goes.
        ``instant``: the rollout completes within the write that started it.
        ``slow``: the rollout needs ``ticks`` ticks, spread evenly.
        ``stuck``: new pods stay Pending; after ``deadline_ticks`` ticks Progressing turns
        False with reason ProgressDeadlineExceeded.
        ``crashloop``: new pods run but never get ready (CrashLoopBackOff); same deadline.

        ``stuck`` and ``crashloop`` hit new pod templates only: a ReplicaSet that was fully
        available before (the target of a rollback) scales up as ``healthy``.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if ticks < 1 or deadline_ticks < 1:
            raise ValueError("ticks and deadline_ticks must be positive")
        with self._lock:
            self._scripts[(namespace, name)] = Script(mode, ticks, deadline_ticks)
            if (DEPLOYMENTS, namespace, name) in self._objects:
                self._reconcile(namespace, name)

    def tick(self, n: int = 1) -> None:
        """Advance every rollout by ``n`` steps."""
        for _ in range(n):
            with self._lock:
                for rt, ns, name in sorted(self._objects, key=lambda k: (k[1], k[2])):
                    if rt is DEPLOYMENTS:
                        self._reconcile(ns, name, advance=True)
                    elif rt is ROLLOUTS:
                        self._reconcile_rollout(ns, name, advance=True)

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        image: str,
        container: str = "app",
        replicas: int = 3,
        labels: Mapping[str, str] | None = None,
        extra_containers: Iterable[Mapping[str, Any]] | None = None,
        paused: bool = False,
    ) -> dict[str, Any]:
        """Create a Deployment already rolled out at revision 1 (pods ready)."""
        labels = dict(labels or {"app": name})
        containers = [{"name": container, "image": image}] + [
            copy.deepcopy(dict(c)) for c in extra_containers or ()
        ]
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
            },
        }
        with self._lock:
            self._create(DEPLOYMENTS, namespace, body, reconcile=False)
            self._reconcile(namespace, name, force_instant=True)
            if paused:
                self._update(
                    DEPLOYMENTS, namespace, name, self._edit_spec(namespace, name, paused=True)
                )
            return self.get(DEPLOYMENTS, namespace, name) or {}

    def add_service(
        self,
        namespace: str,
        name: str,
        selector: Mapping[str, str],
        *,
        ports: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": dict(selector),
                "ports": ports or [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        }
        with self._lock:
            return copy.deepcopy(self._create(SERVICES, namespace, body))

    def add_lease(self, namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A Lease written by someone else (another bot, a leader-election library)."""
        body = {
            "apiVersion": LEASES.api_version,
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": copy.deepcopy(dict(spec)),
        }
        with self._lock:
            return copy.deepcopy(self._create(LEASES, namespace, body))

    def add_virtual_service(
        self, namespace: str, name: str, spec: Mapping[str, Any]
    ) -> dict[str, Any]:
        body = {
            "apiVersion": VIRTUAL_SERVICES.api_version,
            "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": copy.deepcopy(dict(spec)),
        }
        with self._lock:
            return copy.deepcopy(self._create(VIRTUAL_SERVICES, namespace, body))

    def add_rollout(
        self,
        namespace: str,
        name: str,
        *,
        image: str,
        container: str = "app",
        replicas: int = 3,
        strategy: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create an Argo Rollout already rolled out (stable) at revision 1.

        ``strategy`` is spec.strategy as written in the manifest (default: a canary of
        setWeight 20, pause, setWeight 50, pause 10s)."""
        labels = dict(labels or {"app": name})
        body = {
            "apiVersion": ROLLOUTS.api_version,
            "kind": "Rollout",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": container, "image": image}]},
                },
                "strategy": copy.deepcopy(dict(strategy or DEFAULT_CANARY)),
            },
        }
        with self._lock:
            self._create(ROLLOUTS, namespace, body)
            return self.get(ROLLOUTS, namespace, name) or {}

    def script_rollout(
        self, namespace: str, name: str, mode: str, *, at_step: int = 0, deadline_ticks: int = 3
    ) -> None:
        """How this Rollout's next updates behave: ``healthy``; ``degraded`` (new pods never get
        ready; ProgressDeadlineExceeded after ``deadline_ticks``); ``aborts`` (the analysis
        at step ``at_step`` fails and the controller aborts); ``inconclusive`` (the analysis
        or experiment step ``at_step`` ends Inconclusive once and waits for a promote)."""
        if mode not in ROLLOUT_MODES:
            raise ValueError(f"mode must be one of {ROLLOUT_MODES}")
        with self._lock:
            script = self._rollout_scripts.setdefault((namespace, name), RolloutScript())
            script.mode, script.at_step, script.deadline_ticks = mode, at_step, deadline_ticks

    def rollout_replica_sets(self, namespace: str, rollout: str) -> list[dict[str, Any]]:
        """The ReplicaSets the Rollout owns, oldest revision first."""
        with self._lock:
            ro = self._objects.get((ROLLOUTS, namespace, rollout))
            return [copy.deepcopy(rs) for rs in self._rollout_replica_sets(ro)] if ro else []

    def get(self, kind: str | ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object (a copy), or None. ``kind``: "Deployment", "deployments", "svc", ..."""
        rt = resource_type(kind)
        with self._lock:
            obj = self._objects.get((rt, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects(
        self, kind: str | ResourceType, namespace: str | None = None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        rt = resource_type(kind)
        reqs = parse_label_selector(label_selector)
        with self._lock:
            return [
                copy.deepcopy(obj)
                for obj in self._select(rt, namespace)
                if label_selector_matches(reqs, obj["metadata"].get("labels") or {})
            ]

    def replica_sets(self, namespace: str, deployment: str) -> list[dict[str, Any]]:
        """The ReplicaSets the Deployment owns, oldest revision first."""
        with self._lock:
            deploy = self._objects.get((DEPLOYMENTS, namespace, deployment))
            if deploy is None:
                return []
            return [copy.deepcopy(rs) for rs in self._owned_replica_sets(deploy)]

    def edit(
        self, kind: str | ResourceType, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change an object as another client would (RFC 7386 merge patch): bumps
        resourceVersion, so a client holding the old version gets 409 on replace."""
        rt = resource_type(kind)
        with self._lock:
            candidate = merge_patch(self._get_or_404(rt, namespace, name), dict(patch))
            candidate["metadata"].pop("resourceVersion", None)
            obj = self._update(rt, namespace, name, candidate)
            if "status" in patch:
                obj = self._update(rt, namespace, name, candidate, subresource="status")
            return copy.deepcopy(obj)

    # ----------------------------------------------------------------- controllers

    def _after_write(self, rt: ResourceType, namespace: str, name: str) -> None:
        """What the controllers do when an object they watch changed."""
        if rt is DEPLOYMENTS and (rt, namespace, name) in self._objects:
            self._reconcile(namespace, name)
        elif rt is ROLLOUTS and (rt, namespace, name) in self._objects:
            self._reconcile_rollout(namespace, name)
