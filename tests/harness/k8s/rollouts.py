"""argoproj.io/v1alpha1 Rollouts: enough of the Argo Rollouts controller to drive one by ticks.

Modelled on the controller's documented behaviour and its source (rollout/canary.go,
rollout/bluegreen.go, utils/rollout/rolloututil.go's phase calculation):

* a new pod template (``status.currentPodHash`` differs) gets its own ReplicaSet labelled
  ``rollouts-pod-template-hash`` with the ``rollout.argoproj.io/revision`` annotation, and resets
  the step index, pause conditions and abort; a template equal to the stable one (an undo to
  the stable revision) skips the steps. The first revision is stable at once.
* canary steps, one per tick: ``setWeight`` scales the canary ReplicaSet to that share of
  ``spec.replicas`` (and records ``status.canary.weights`` when traffic routing is set);
  ``pause`` adds a ``CanaryPauseStep`` pause condition and ``controllerPause``; a timed pause
  ends after its duration, counted at ``SECONDS_PER_TICK`` per tick; an untimed one ends when
  someone clears ``status.pauseConditions`` (``kubectl argo rollouts promote``); other steps
  (analysis, experiment, ...) succeed in one tick. After the last step the canary becomes
  ``status.stableRS``. ``status.promoteFull`` skips the remaining steps.
* blue-green: the new ReplicaSet is the preview (``status.blueGreen.previewSelector``); once
  ready it is promoted to active, or, with ``autoPromotionEnabled: false``, waits on a
  ``BlueGreenPause`` pause condition; the active and preview Services' selectors follow.
* ``spec.paused`` holds everything ("manually paused"); ``status.abort`` scales the canary
  (or preview) away, points traffic back at the stable ReplicaSet, sets ``abortedAt``, the
  ``RolloutAborted`` condition and phase Degraded; clearing it (retry) starts the update again.
* ``status.phase`` / ``message`` as the controller computes them: Progressing, Paused,
  Healthy, Degraded.

``K8sEmulator.script_rollout`` makes a rollout fail: ``degraded`` (new pods never get ready:
ProgressDeadlineExceeded after ``deadline_ticks``), ``aborts`` (an analysis fails at step
``at_step`` and the controller aborts), ``inconclusive`` (the analysis or experiment step at
``at_step`` ends Inconclusive once: the controller pauses with an ``InconclusiveAnalysisRun``
or ``InconclusiveExperiment`` pause condition and ``controllerPause``, recording the run in
``status.canary.currentStepAnalysisRunStatus``; the plugin's promote moves past the step, a
bare clearing of the pause conditions runs the step again, and that run succeeds). Not modelled: AnalysisRuns and Experiments as objects,
traffic routers, scale-down delays, anti-affinity, workloadRef.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.harness.k8s.apps import template_key
from tests.harness.k8s.core import default_pod_spec
from tests.harness.k8s.resources import REPLICASETS, ROLLOUTS, SERVICES
from tests.harness.k8s.state import EmulatorState
from tests.harness.k8s.util import fnv32a, safe_encode, timestamp

HASH_LABEL = "rollouts-pod-template-hash"
REVISION = "rollout.argoproj.io/revision"
ROLLOUT_MODES = ("healthy", "degraded", "aborts", "inconclusive")
SECONDS_PER_TICK = 10


@dataclass
class RolloutScript:
    mode: str = "healthy"
    at_step: int = 0  # "aborts": the step index whose analysis fails
    deadline_ticks: int = 3  # "degraded": ticks until ProgressDeadlineExceeded
    revision_hash: str = ""  # the pod template hash the counters below are about
    elapsed: int = 0  # ticks since that revision started
    paused_ticks: int = 0  # ticks spent in the current timed pause
    analysis_failed: bool = False  # "aborts": the abort was the controller's, not a person's
    inconclusive_done: bool = False  # "inconclusive": the one inconclusive run happened


def duration_seconds(value: Any) -> int:
    """A pause duration: an integer (seconds) or a string such as ``30s``, ``5m``, ``1h``."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(\d+)(s|m|h)?", str(value))
    if not match:
        return 0
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600, None: 1}[match[2]]


def set_weight(steps: list[dict[str, Any]], index: int) -> int:
    """replicasetutil.GetCurrentSetWeight: the last setWeight at or before the index."""
    if index >= len(steps):
        return 100
    for step in reversed(steps[: index + 1]):
        if "setWeight" in step:
            return int(step["setWeight"])
    return 0


def _rs_hash(rs: Mapping[str, Any]) -> str:
    return str(rs["metadata"]["labels"].get(HASH_LABEL, ""))


def _rs_revision(rs: Mapping[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


class RolloutControllerMixin(EmulatorState):
    """The Argo Rollouts controller, reconciling on every write and advancing on ``tick()``."""

    _rollout_scripts: dict[tuple[str, str], RolloutScript]

    def _rollout_replica_sets(self, ro: Mapping[str, Any]) -> list[dict[str, Any]]:
        uid = ro["metadata"]["uid"]
        owned = [
            rs
            for rs in self._select(REPLICASETS, ro["metadata"]["namespace"])  # type: ignore[attr-defined]
            if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
        ]
        return sorted(owned, key=_rs_revision)

    def _reconcile_rollout(self, namespace: str, name: str, *, advance: bool = False) -> None:
        ro = self._objects[(ROLLOUTS, namespace, name)]
        spec = ro["spec"]
        status: dict[str, Any] = copy.deepcopy(ro.get("status") or {})
        script = self._rollout_scripts.setdefault((namespace, name), RolloutScript())
        pod_hash = self._pod_hash(ro)
        new_rs = self._ensure_rollout_rs(ro, pod_hash)
        ro = self._annotate_revision(ro, str(_rs_revision(new_rs)))
        steps = (spec["strategy"].get("canary") or {}).get("steps") or []
        if status.get("currentPodHash") != pod_hash:  # a new revision: start over
            for key in ("pauseConditions", "controllerPause", "abort", "abortedAt", "promoteFull"):
                status.pop(key, None)
            status["currentPodHash"] = pod_hash
            status.setdefault("stableRS", pod_hash)  # the first revision is stable at once
            if steps:
                status["currentStepIndex"] = len(steps) if status["stableRS"] == pod_hash else 0
            script.revision_hash, script.elapsed, script.paused_ticks = pod_hash, 0, 0
            script.analysis_failed = script.inconclusive_done = False
            (status.get("canary") or {}).pop("currentStepAnalysisRunStatus", None)
            advance = False
        if advance:
            script.elapsed += 1
        if status.get("promoteFull"):
            status.pop("pauseConditions", None)
            status.pop("abort", None)
            if steps:
                status["currentStepIndex"] = len(steps)
        unpausing = status.get("controllerPause") and not status.get("pauseConditions")
        if unpausing:
            status.pop("controllerPause", None)
        stable = status["stableRS"]
        if stable != pod_hash and not status.get("abort"):
            self._progress(ro, status, script, steps, advance=advance, unpausing=bool(unpausing))
        if status.get("abort"):
            status.setdefault("abortedAt", timestamp())
        else:  # a retry (abort back to false) starts the update again
            status.pop("abortedAt", None)
            script.analysis_failed = False
        if status.get("abort") and steps:
            status["currentStepIndex"] = 0 if status["stableRS"] != pod_hash else len(steps)
        self._scale_rollout(ro, status, new_rs, steps, script)
        self._write_rollout_status(ro, status, new_rs, steps, script)

    def _progress(
        self,
        ro: dict[str, Any],
        status: dict[str, Any],
        script: RolloutScript,
        steps: list[dict[str, Any]],
        *,
        advance: bool,
        unpausing: bool,
    ) -> None:
        """One step of the update, if the rollout may move (not paused, not failing)."""
        spec = ro["spec"]
        if script.mode == "degraded" and script.elapsed >= script.deadline_ticks:
            if spec.get("progressDeadlineAbort"):
                status["abort"] = True
            return
        blue_green = spec["strategy"].get("blueGreen")
        if blue_green is not None:
            if status.get("pauseConditions") or spec.get("paused"):
                return
            ready = script.elapsed >= 1 and script.mode != "degraded"
            waits = blue_green.get("autoPromotionEnabled") is False
            if ready and waits and not unpausing and not status.get("promoteFull"):
                status["pauseConditions"] = [{"reason": "BlueGreenPause", "startTime": timestamp()}]
                status["controllerPause"] = True
            elif ready:
                status["stableRS"] = status["currentPodHash"]
                status.pop("promoteFull", None)
            return
        index = status.get("currentStepIndex", len(steps))
        if index < len(steps) and not spec.get("paused") and script.mode != "degraded":
            step = steps[index]
            if "pause" in step:
                index = self._pause_step(status, script, step["pause"], index, advance, unpausing)
            elif status.get("pauseConditions"):
                pass  # an inconclusive run waits for a person
            elif advance:
                if script.mode == "inconclusive" and index == script.at_step:
                    index = self._inconclusive_step(ro, status, script, step, index)
                elif script.mode == "aborts" and index >= script.at_step:
                    status["abort"] = script.analysis_failed = True
                else:
                    index += 1
                    if index < len(steps) and "pause" in steps[index]:  # pauses at once
                        index = self._pause_step(
                            status, script, steps[index]["pause"], index, False, False
                        )
            if index != status.get("currentStepIndex"):
                (status.get("canary") or {}).pop("currentStepAnalysisRunStatus", None)
            status["currentStepIndex"] = index
        if index >= len(steps) and not status.get("abort") and script.mode != "degraded":
            status["stableRS"] = status["currentPodHash"]
            status.pop("promoteFull", None)

    @staticmethod
    def _inconclusive_step(
        ro: Mapping[str, Any],
        status: dict[str, Any],
        script: RolloutScript,
        step: Mapping[str, Any],
        index: int,
    ) -> int:
        """The step's run ends Inconclusive the first time (rollout/analysis.go and
        experiment.go add the pause condition); the next run of it succeeds."""
        if script.inconclusive_done:
            return index + 1
        script.inconclusive_done = True
        reason = "InconclusiveAnalysisRun" if "analysis" in step else "InconclusiveExperiment"
        status["pauseConditions"] = [{"reason": reason, "startTime": timestamp()}]
        status["controllerPause"] = True
        if "analysis" in step:
            name = f"{ro['metadata']['name']}-{status['currentPodHash']}-{index}"
            status.setdefault("canary", {})["currentStepAnalysisRunStatus"] = {
                "name": name,
                "status": "Inconclusive",
                "message": 'Metric "error-rate" assessed Inconclusive',
            }
        return index

    @staticmethod
    def _pause_step(
        status: dict[str, Any],
        script: RolloutScript,
        pause: Mapping[str, Any],
        index: int,
        advance: bool,
        unpausing: bool,
    ) -> int:
        if unpausing:  # someone cleared the pause condition: the step is done
            return index + 1
        if not status.get("controllerPause"):
            status["pauseConditions"] = [{"reason": "CanaryPauseStep", "startTime": timestamp()}]
            status["controllerPause"] = True
            script.paused_ticks = 0
            return index
        if "duration" in pause and advance:
            script.paused_ticks += 1
            if script.paused_ticks * SECONDS_PER_TICK >= duration_seconds(pause["duration"]):
                status.pop("pauseConditions", None)
                status.pop("controllerPause", None)
                return index + 1
        return index

    def _pod_hash(self, ro: dict[str, Any]) -> str:
        """The hash of the ReplicaSet for the Rollout's template: an existing ReplicaSet's when
        their templates are equal once the Rollout's is defaulted like a pod template
        (replicasetutil.PodTemplateEqualIgnoreHash), else a new one."""
        template = copy.deepcopy(ro["spec"]["template"])
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])
        key = template_key(template, HASH_LABEL)
        for rs in self._rollout_replica_sets(ro):
            if template_key(rs["spec"]["template"], HASH_LABEL) == key:
                return _rs_hash(rs)
        return safe_encode(str(fnv32a(key.encode())))

    def _annotate_revision(self, ro: dict[str, Any], revision: str) -> dict[str, Any]:
        """The controller keeps the Rollout's rollout.argoproj.io/revision on its new ReplicaSet's."""
        if (ro["metadata"].get("annotations") or {}).get(REVISION) == revision:
            return ro
        new = copy.deepcopy(ro)
        new["metadata"].setdefault("annotations", {})[REVISION] = revision
        meta = ro["metadata"]
        updated: dict[str, Any] = self._update(  # type: ignore[attr-defined]
            ROLLOUTS, meta["namespace"], meta["name"], new, reconcile=False
        )
        return updated

    def _ensure_rollout_rs(self, ro: dict[str, Any], pod_hash: str) -> dict[str, Any]:
        owned = self._rollout_replica_sets(ro)
        latest = max((_rs_revision(rs) for rs in owned), default=0)
        found = next((rs for rs in owned if _rs_hash(rs) == pod_hash), None)
        if found is not None:
            if _rs_revision(found) < latest:  # an old template again: it takes a new revision
                annotations = dict(found["metadata"].get("annotations") or {})
                annotations[REVISION] = str(latest + 1)
                found = self._write_rs(found, annotations=annotations)  # type: ignore[attr-defined]
            return found
        meta, spec = ro["metadata"], ro["spec"]
        template = copy.deepcopy(spec["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(latest + 1)},
                "ownerReferences": [
                    {
                        "apiVersion": ROLLOUTS.api_version,
                        "kind": "Rollout",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        created: dict[str, Any] = self._create(  # type: ignore[attr-defined]
            REPLICASETS, meta["namespace"], body, reconcile=False
        )
        return created

    def _scale_rollout(
        self,
        ro: dict[str, Any],
        status: dict[str, Any],
        new_rs: dict[str, Any],
        steps: list[dict[str, Any]],
        script: RolloutScript,
    ) -> None:
        replicas = int(ro["spec"].get("replicas", 1))
        stable_hash, new_hash = status["stableRS"], status["currentPodHash"]
        if new_hash == stable_hash:
            new_count, new_ready = replicas, replicas
        elif status.get("abort"):
            new_count = new_ready = 0
        else:
            if ro["spec"]["strategy"].get("blueGreen") is not None:
                new_count = replicas
            else:
                weight = set_weight(steps, status.get("currentStepIndex", len(steps)))
                new_count = math.ceil(weight * replicas / 100)
            healthy = script.mode != "degraded" and script.elapsed >= 1
            new_ready = new_count if healthy else 0
        for rs in self._rollout_replica_sets(ro):
            if _rs_hash(rs) == new_hash:
                count, ready = new_count, new_ready
            elif _rs_hash(rs) == stable_hash:
                blue_green = ro["spec"]["strategy"].get("blueGreen") is not None
                count = replicas if blue_green else max(0, replicas - new_ready)
                ready = count
            else:
                count = ready = 0
            if (
                rs["spec"]["replicas"] != count
                or rs.get("status", {}).get("readyReplicas", 0) != ready
            ):
                self._write_rs(rs, replicas=count, ready=ready)  # type: ignore[attr-defined]

    def _write_rollout_status(
        self,
        ro: dict[str, Any],
        status: dict[str, Any],
        new_rs: dict[str, Any],
        steps: list[dict[str, Any]],
        script: RolloutScript,
    ) -> None:
        namespace, name = ro["metadata"]["namespace"], ro["metadata"]["name"]
        spec = ro["spec"]
        owned = self._rollout_replica_sets(ro)
        new_rs = next(rs for rs in owned if _rs_hash(rs) == status["currentPodHash"])
        revision = _rs_revision(new_rs)
        counts = {
            "replicas": sum(rs["spec"]["replicas"] for rs in owned),
            "updatedReplicas": new_rs["spec"]["replicas"],
            "readyReplicas": sum((rs.get("status") or {}).get("readyReplicas", 0) for rs in owned),
        }
        counts["availableReplicas"] = counts["readyReplicas"]
        status.update(counts, HPAReplicas=counts["replicas"])
        status["selector"] = ",".join(
            f"{k}={v}" for k, v in sorted(spec["selector"].get("matchLabels", {}).items())
        )
        status["observedGeneration"] = str(ro["metadata"]["generation"])
        canary = spec["strategy"].get("canary")
        if canary is not None:
            status.setdefault("canary", {})
            if canary.get("trafficRouting") is not None:
                weight = (
                    0
                    if status.get("abort")
                    else set_weight(steps, status.get("currentStepIndex", len(steps)))
                )
                if status["stableRS"] == status["currentPodHash"]:
                    weight = 0
                status["canary"]["weights"] = {
                    "canary": {"weight": weight, "podTemplateHash": status["currentPodHash"]},
                    "stable": {"weight": 100 - weight, "podTemplateHash": status["stableRS"]},
                }
        else:
            active = status["stableRS"]
            status["blueGreen"] = {
                "activeSelector": active,
                "previewSelector": status["currentPodHash"],
            }
            if status.get("abort"):
                status["blueGreen"]["previewSelector"] = active
            self._point_services(namespace, spec["strategy"]["blueGreen"], status["blueGreen"])
        phase, message, progressing = self._rollout_phase(spec, status, script, revision, new_rs)
        status["phase"], status["message"] = phase, message
        if not message:
            status.pop("message")
        status["conditions"] = self._rollout_conditions(ro, status, progressing, counts)
        new = copy.deepcopy(ro)
        new["status"] = status
        self._update(ROLLOUTS, namespace, name, new, subresource="status", reconcile=False)  # type: ignore[attr-defined]

    @staticmethod
    def _rollout_phase(
        spec: Mapping[str, Any],
        status: Mapping[str, Any],
        script: RolloutScript,
        revision: int,
        new_rs: Mapping[str, Any],
    ) -> tuple[str, str, tuple[str, str, str]]:
        """(phase, message, Progressing condition), as rolloututil.CalculateRolloutPhase."""
        rs_name = new_rs["metadata"]["name"]
        if status.get("abort"):
            text = f"Rollout aborted update to revision {revision}"
            if script.analysis_failed:
                text += ': Metric "error-rate" assessed Failed due to failed (1) > failureLimit (0)'
            return "Degraded", f"RolloutAborted: {text}", ("False", "RolloutAborted", text)
        if (
            script.mode == "degraded"
            and status["stableRS"] != status["currentPodHash"]
            and script.elapsed >= script.deadline_ticks
        ):
            text = f'ReplicaSet "{rs_name}" has timed out progressing.'
            return (
                "Degraded",
                f"ProgressDeadlineExceeded: {text}",
                ("False", "ProgressDeadlineExceeded", text),
            )
        progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        if spec.get("paused"):
            return "Paused", "manually paused", ("Unknown", "RolloutPaused", "Rollout is paused")
        for condition in status.get("pauseConditions") or []:
            return "Paused", condition["reason"], ("Unknown", "RolloutPaused", "Rollout is paused")
        if status["stableRS"] != status["currentPodHash"]:
            waiting = (
                "active service cutover pending"
                if spec["strategy"].get("blueGreen") is not None
                else "waiting for all steps to complete"
            )
            return "Progressing", waiting, progressing
        done = f'ReplicaSet "{rs_name}" has successfully progressed.'
        return "Healthy", "", ("True", "NewReplicaSetAvailable", done)

    @staticmethod
    def _rollout_conditions(
        ro: Mapping[str, Any],
        status: Mapping[str, Any],
        progressing: tuple[str, str, str],
        counts: Mapping[str, int],
    ) -> list[dict[str, Any]]:
        previous = {c["type"]: c for c in (ro.get("status") or {}).get("conditions") or []}
        available = counts["availableReplicas"] >= int(ro["spec"].get("replicas", 1))
        wanted = {
            "Progressing": progressing,
            "Available": (
                ("True", "AvailableReason", "Rollout has minimum availability")
                if available
                else ("False", "AvailableReason", "Rollout does not have minimum availability")
            ),
        }
        now = timestamp()
        conditions = []
        for ctype, (flag, reason, message) in wanted.items():
            old = previous.get(ctype, {})
            same = old.get("status") == flag
            unchanged = same and old.get("reason") == reason and old.get("message") == message
            conditions.append(
                {
                    "type": ctype,
                    "status": flag,
                    "reason": reason,
                    "message": message,
                    "lastUpdateTime": old["lastUpdateTime"] if unchanged else now,
                    "lastTransitionTime": old["lastTransitionTime"] if same else now,
                }
            )
        return conditions

    def _point_services(
        self, namespace: str, blue_green: Mapping[str, Any], selectors: Mapping[str, str]
    ) -> None:
        """The controller adds rollouts-pod-template-hash to the active and preview Services."""
        for key, selector in (
            ("activeService", "activeSelector"),
            ("previewService", "previewSelector"),
        ):
            service = self._objects.get((SERVICES, namespace, blue_green.get(key, "")))
            if service is None:
                continue
            labels = dict(service["spec"].get("selector") or {})
            if labels.get(HASH_LABEL) != selectors[selector]:
                labels[HASH_LABEL] = selectors[selector]
                new = copy.deepcopy(service)
                new["spec"]["selector"] = labels
                self._update(SERVICES, namespace, service["metadata"]["name"], new, reconcile=False)  # type: ignore[attr-defined]
