"""The ReplicaSet -> Pod part of the controller: pods created, removed and made (un)ready."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tests.harness.k8s.resources import PODS
from tests.harness.k8s.state import EmulatorState
from tests.harness.k8s.util import SAFE, fnv32a


class PodsMixin(EmulatorState):
    def _sync_pods(self, rs: dict[str, Any], mode: str | None, restarts: int) -> None:
        ns = rs["metadata"]["namespace"]
        uid = rs["metadata"]["uid"]
        pods = [
            p
            for p in self._select(PODS, ns)
            if any(ref.get("uid") == uid for ref in p["metadata"].get("ownerReferences") or [])
        ]
        pods.sort(key=lambda p: self._pod_order.get((ns, p["metadata"]["name"]), 0))
        wanted = rs["status"].get("replicas", 0)
        for pod in pods[wanted:]:
            self._remove(PODS, ns, pod["metadata"]["name"], cascade=True)
        for _ in range(len(pods), wanted):
            template = rs["spec"]["template"]
            serial = next(self._pod_ids)
            pod_name = f"{rs['metadata']['name']}-{_suffix(serial)}"
            while (PODS, ns, pod_name) in self._objects:
                serial = next(self._pod_ids)
                pod_name = f"{rs['metadata']['name']}-{_suffix(serial)}"
            self._pod_order[(ns, pod_name)] = serial
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": ns,
                    "labels": dict(template["metadata"].get("labels") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": rs["metadata"]["name"],
                            "uid": uid,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(template["spec"]),
            }
            pods.append(self._create(PODS, ns, body, reconcile=False))
        ready = rs["status"].get("readyReplicas", 0)
        pods = pods[:wanted]
        for i, pod in enumerate(pods):
            if i < ready:
                status = _pod_status(pod, "ready", 0)
            elif mode in ("stuck", "crashloop"):
                status = _pod_status(pod, mode, restarts)
            elif not pod.get("status"):
                status = _pod_status(pod, "stuck", 0)
            else:
                continue  # an old ReplicaSet's unready pod keeps what it showed
            if pod.get("status") != status:
                self._update(
                    PODS,
                    ns,
                    pod["metadata"]["name"],
                    {**pod, "status": status},
                    subresource="status",
                )


def _suffix(serial: int) -> str:
    value = fnv32a(str(serial).encode())
    chars = []
    for _ in range(5):
        value, digit = divmod(value, len(SAFE))
        chars.append(SAFE[digit])
    return "".join(chars)


def _pod_status(pod: Mapping[str, Any], state: str, restarts: int) -> dict[str, Any]:
    containers = [c["name"] for c in pod["spec"].get("containers") or []]
    start = pod["metadata"]["creationTimestamp"]
    if state == "stuck":
        return {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient cpu.",
                    "lastTransitionTime": start,
                }
            ],
            "qosClass": "BestEffort",
        }
    ready = state == "ready"
    flag = "True" if ready else "False"
    statuses = []
    for cname in containers:
        image = next(c.get("image") for c in pod["spec"]["containers"] if c["name"] == cname)
        entry: dict[str, Any] = {
            "name": cname,
            "image": image,
            "imageID": f"emulated.registry/{image}@sha256:{fnv32a(str(image).encode()):064x}",
            "ready": ready,
            "started": ready,
            "restartCount": restarts,
        }
        if ready:
            entry["containerID"] = (
                f"containerd://{fnv32a((pod['metadata']['uid'] + cname).encode()):064x}"
            )
            entry["state"] = {"running": {"startedAt": start}}
        else:
            entry["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off restarting failed container {cname}",
                }
            }
            entry["lastState"] = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": start,
                    "finishedAt": start,
                }
            }
        statuses.append(entry)
    return {
        "phase": "Running",
        "conditions": [
            {
                "type": t,
                "status": "True" if t == "PodScheduled" else flag,
                "lastTransitionTime": start,
            }
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": statuses,
        "hostIP": "10.0.0.2",
        "podIP": "10.244.0.10",
        "startTime": start,
        "qosClass": "BestEffort",
    }
