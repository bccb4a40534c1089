"""apps/v1: the Deployment -> ReplicaSet controller, advanced by ``tick()``."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.harness.k8s.resources import DEPLOYMENTS, REPLICASETS
from tests.harness.k8s.state import EmulatorState
from tests.harness.k8s.util import (
    canonical,
    fnv32a,
    omit_zero,
    resolve_percent,
    safe_encode,
    timestamp,
)

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
POD_TEMPLATE_HASH = "pod-template-hash"

MODES = ("healthy", "instant", "slow", "stuck", "crashloop")


@dataclass
class Script:
    mode: str
    ticks: int = 3  # "slow": ticks the whole rollout needs
    deadline_ticks: int = 3  # "stuck"/"crashloop": ticks until ProgressDeadlineExceeded
    episode: tuple[str, int] | None = None  # (new RS name, desired replicas) being rolled out
    elapsed: int = 0
    base_ready: int = 0
    restarts: int = 0  # restartCount shown by crashlooping pods


def template_key(template: Mapping[str, Any], hash_label: str = POD_TEMPLATE_HASH) -> str:
    """A pod template compared the way the controller does: without its hash label."""
    template = copy.deepcopy(dict(template))
    labels = template.get("metadata", {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(hash_label, None)
    return canonical(template)


def _revision(rs: Mapping[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _ready(rs: Mapping[str, Any]) -> int:
    return int((rs.get("status") or {}).get("readyReplicas", 0))


class DeploymentControllerMixin(EmulatorState):
    """Rolls a Deployment's pod template out through ReplicaSets, one step per tick."""

    def _edit_spec(self, namespace: str, name: str, **changes: Any) -> dict[str, Any]:
        obj = copy.deepcopy(self._objects[(DEPLOYMENTS, namespace, name)])
        obj["spec"].update(changes)
        return obj

    def _owned_replica_sets(self, deploy: Mapping[str, Any]) -> list[dict[str, Any]]:
        uid = deploy["metadata"]["uid"]
        owned = [
            rs
            for rs in self._select(REPLICASETS, deploy["metadata"]["namespace"])
            if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
        ]
        return sorted(owned, key=lambda rs: (_revision(rs), rs["metadata"]["creationTimestamp"]))

    def _reconcile(
        self, namespace: str, name: str, *, advance: bool = False, force_instant: bool = False
    ) -> None:
        deploy = self._objects[(DEPLOYMENTS, namespace, name)]
        script = self._scripts.setdefault((namespace, name), Script(self.default_mode))
        mode = "instant" if force_instant else script.mode
        spec = deploy["spec"]
        desired = spec["replicas"]
        paused = bool(spec.get("paused"))
        owned = self._owned_replica_sets(deploy)
        key = template_key(spec["template"])
        new_rs = next((rs for rs in owned if template_key(rs["spec"]["template"]) == key), None)
        max_revision = max((_revision(rs) for rs in owned), default=0)
        if not paused:
            if new_rs is None:
                new_rs = self._create_replica_set(deploy, max_revision + 1)
            elif _revision(new_rs) < max_revision:  # rollback to an old template: reuse its RS
                annotations = dict(new_rs["metadata"].get("annotations") or {})
                history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
                annotations[REVISION_HISTORY] = ",".join([*history, str(_revision(new_rs))])
                annotations[REVISION] = str(max_revision + 1)
                new_rs = self._write_rs(new_rs, annotations=annotations)
            owned = self._owned_replica_sets(deploy)
            new_rs = next(
                rs for rs in owned if rs["metadata"]["name"] == new_rs["metadata"]["name"]
            )
        old_sets = [
            rs
            for rs in owned
            if new_rs is None or rs["metadata"]["name"] != new_rs["metadata"]["name"]
        ]

        surge, unavailable = self._rolling_limits(spec, desired)
        if paused:
            # No rollout while paused; a scale change still reaches the newest active RS.
            target = new_rs or (max(old_sets, key=_revision) if old_sets else None)
            total = sum(rs["spec"]["replicas"] for rs in owned)
            if target is not None and total != desired:
                replicas = max(0, target["spec"]["replicas"] + desired - total)
                self._write_rs(
                    target,
                    replicas=replicas,
                    ready=min(
                        replicas, _ready(target) if mode in ("stuck", "crashloop") else replicas
                    ),
                )
        else:
            assert new_rs is not None
            if mode in ("stuck", "crashloop") and new_rs["metadata"]["uid"] in self._proven:
                mode = "healthy"  # a ReplicaSet that was fully available before still works
            episode = (new_rs["metadata"]["name"], desired)
            if script.episode != episode or force_instant:
                script.episode, script.elapsed, script.restarts = episode, 0, 0
                script.base_ready = min(_ready(new_rs), desired)
            complete = (
                _ready(new_rs) >= desired
                and new_rs["spec"]["replicas"] == desired
                and all(rs["spec"]["replicas"] == 0 for rs in old_sets)
            )
            if advance and not complete:
                script.elapsed += 1
                if mode == "crashloop":
                    script.restarts += 1
            # Readiness only ever grows within an episode: each mode says by how much.
            ready_now = min(_ready(new_rs), desired)
            base = script.base_ready
            new_ready = {
                "instant": desired,
                "healthy": min(desired, ready_now + (1 if advance and not complete else 0)),
                "slow": desired
                if script.elapsed >= script.ticks
                else max(ready_now, base + (desired - base) * script.elapsed // script.ticks),
            }.get(mode, ready_now)
            # Old pods that are not ready go first (they serve nothing); ready ones are scaled
            # down, oldest ReplicaSet first, as far as the strategy allows.
            recreate = spec["strategy"]["type"] == "Recreate"
            old_ready = [min(rs["spec"]["replicas"], _ready(rs)) for rs in old_sets]
            if recreate:
                keep = 0
            elif mode in ("stuck", "crashloop"):
                keep = max(0, desired - unavailable - new_ready)
            else:
                keep = max(0, desired - new_ready)
            remove = max(0, sum(old_ready) - keep)
            old_plan = []
            for ready in old_ready:
                cut = min(remove, ready)
                remove -= cut
                old_plan.append(ready - cut)
            if mode in ("stuck", "crashloop"):
                limit = desired if recreate else desired + surge - sum(old_plan)
                new_replicas = max(new_ready, min(desired, limit))
            else:
                new_replicas = new_ready
            self._write_rs(
                new_rs,
                replicas=new_replicas,
                ready=new_ready,
                desired=desired,
                surge=surge,
                mode=mode,
                restarts=script.restarts,
            )
            for rs, replicas in zip(old_sets, old_plan, strict=True):
                self._write_rs(rs, replicas=replicas, ready=replicas)
            self._prune_history(deploy)
        self._write_deployment_status(namespace, name, script, paused)

    @staticmethod
    def _rolling_limits(spec: Mapping[str, Any], desired: int) -> tuple[int, int]:
        strategy = spec.get("strategy") or {}
        if strategy.get("type") != "RollingUpdate":
            return 0, desired
        rolling = strategy.get("rollingUpdate") or {}
        surge = resolve_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
        unavailable = resolve_percent(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _create_replica_set(self, deploy: Mapping[str, Any], revision: int) -> dict[str, Any]:
        meta, spec = deploy["metadata"], deploy["spec"]
        template_hash = safe_encode(str(fnv32a(template_key(spec["template"]).encode())))
        template = copy.deepcopy(spec["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = (
            template_hash
        )
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = template_hash
        annotations = {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if not k.startswith("kubectl.kubernetes.io/")
        }
        annotations.update({REVISION: str(revision)})
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{template_hash}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template}
            | ({"minReadySeconds": spec["minReadySeconds"]} if "minReadySeconds" in spec else {}),
        }
        return self._create(REPLICASETS, meta["namespace"], body, reconcile=False)

    def _write_rs(
        self,
        rs: dict[str, Any],
        *,
        replicas: int | None = None,
        ready: int | None = None,
        annotations: dict[str, str] | None = None,
        desired: int | None = None,
        surge: int = 0,
        mode: str | None = None,
        restarts: int = 0,
    ) -> dict[str, Any]:
        ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        new = copy.deepcopy(rs)
        if annotations is not None:
            new["metadata"]["annotations"] = annotations
        if desired is not None:
            new["metadata"].setdefault("annotations", {}).update(
                {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + surge)}
            )
        if replicas is not None:
            new["spec"]["replicas"] = replicas
        rs = self._update(REPLICASETS, ns, name, new, reconcile=False)
        count = rs["spec"]["replicas"]
        ready = min(count, _ready(rs) if ready is None else ready)
        status = omit_zero(
            {
                "replicas": count,
                "fullyLabeledReplicas": count,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"]["generation"],
            },
            ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"),
        )
        status["replicas"] = count
        rs = self._update(REPLICASETS, ns, name, {**rs, "status": status}, subresource="status")
        self._sync_pods(rs, mode, restarts)
        return rs

    def _prune_history(self, deploy: Mapping[str, Any]) -> None:
        limit = deploy["spec"].get("revisionHistoryLimit", 10)
        owned = self._owned_replica_sets(deploy)
        newest = owned[-1]["metadata"]["name"] if owned else None
        idle = [
            rs
            for rs in owned
            if rs["spec"]["replicas"] == 0
            and not rs["status"].get("replicas")
            and rs["metadata"]["name"] != newest
        ]
        for rs in idle[: max(0, len(idle) - limit)]:
            self._remove(
                REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], cascade=True
            )

    def _write_deployment_status(
        self, namespace: str, name: str, script: Script, paused: bool
    ) -> None:
        deploy = self._objects[(DEPLOYMENTS, namespace, name)]
        spec = deploy["spec"]
        desired = spec["replicas"]
        owned = self._owned_replica_sets(deploy)
        key = template_key(spec["template"])
        new_rs = next((rs for rs in owned if template_key(rs["spec"]["template"]) == key), None)
        total = sum(rs["status"].get("replicas", 0) for rs in owned)
        ready = sum(rs["status"].get("readyReplicas", 0) for rs in owned)
        available = sum(rs["status"].get("availableReplicas", 0) for rs in owned)
        updated = new_rs["status"].get("replicas", 0) if new_rs else 0
        _, unavailable = self._rolling_limits(spec, desired)
        old = deploy.get("status") or {}
        conditions = {c["type"]: c for c in old.get("conditions") or []}
        now = timestamp()
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = (
            new_rs is not None and updated == desired and total == desired and available == desired
        )
        if complete and new_rs is not None:
            self._proven.add(new_rs["metadata"]["uid"])
        if paused:
            progressing = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif (
            script.mode in ("stuck", "crashloop")
            and script.elapsed >= script.deadline_ticks
            and (new_rs is None or new_rs["metadata"]["uid"] not in self._proven)
        ):
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        minimum = available >= desired - unavailable
        availability = (
            ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if minimum
            else (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        )
        new_conditions = []
        for ctype, (flag, reason, message) in (
            ("Available", availability),
            ("Progressing", progressing),
        ):
            previous = conditions.get(ctype, {})
            same = previous.get("status") == flag
            unchanged = (
                same and previous.get("reason") == reason and previous.get("message") == message
            )
            new_conditions.append(
                {
                    "type": ctype,
                    "status": flag,
                    "lastUpdateTime": previous["lastUpdateTime"] if unchanged else now,
                    "lastTransitionTime": previous["lastTransitionTime"] if same else now,
                    "reason": reason,
                    "message": message,
                }
            )
        status = omit_zero(
            {
                "observedGeneration": deploy["metadata"]["generation"],
                "replicas": total,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": available,
                # As Kubernetes computes it: desired pods of all ReplicaSets (surge included)
                # minus the available ones.
                "unavailableReplicas": max(
                    0, sum(rs["spec"]["replicas"] for rs in owned) - available
                ),
                "conditions": new_conditions,
            },
            (
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
                "unavailableReplicas",
            ),
        )
        new = copy.deepcopy(deploy)
        new["status"] = status
        if new_rs is not None:
            new["metadata"].setdefault("annotations", {})[REVISION] = new_rs["metadata"][
                "annotations"
            ][REVISION]
        self._update(DEPLOYMENTS, namespace, name, new, subresource="status", reconcile=False)
