"""One Rollout: set its image and follow it (deploy), abort or undo it (rollback), read it.

Rollback follows the plugin (pkg/kubectl-argo-rollouts/cmd/undo): an update in flight is
aborted first (traffic back to stable at once); with ``rollback: undo`` the pod template of
the chosen ReplicaSet - the previous revision, the one that ran before this deployment, or
the one that ran ``--version`` - goes back into ``spec.template`` without its
``rollouts-pod-template-hash`` label, and the controller, finding the stable ReplicaSet's
template again, skips the steps; any other revision is then promoted at once
(``promote --full``): it ran before, its canary steps are not walked again. A template that
already matches is the plugin's "skipped rollback".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from services.clock import Clock
from services.deploy.backend import (
    AbortedError,
    AlreadyThereError,
    DeployContext,
    Progress,
    Running,
    ShouldAbort,
)
from services.deploy.backends.argo_rollouts.settings import ArgoRolloutsTarget
from services.deploy.backends.argo_rollouts.status import (
    RolloutView,
    container_index,
    read,
    strategy_of,
)
from services.deploy.backends.argo_rollouts.watch import RolloutWatch
from services.errors import DeployError
from services.kube.client import KubeClient, KubeError, KubeNotFoundError, Obj
from services.kube.images import containers, image_of, image_problems, split_image
from services.kube.objects import unready
from services.kube.revisions import revisions_text, that_ran
from services.kube.rollouts import POD_TEMPLATE_HASH, Rollouts, revision_of

Connect = Callable[[ArgoRolloutsTarget], AbstractContextManager[KubeClient]]


def _template(obj: Mapping[str, Any]) -> Any:
    """A pod template without rollouts-pod-template-hash."""
    template = copy.deepcopy(dict((obj.get("spec") or {}).get("template") or {}))
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return template


def derivative(ours: Any, theirs: Any) -> bool:
    """apimachinery's Semantic.DeepDerivative, as the plugin's undo compares templates: equal,
    except that what `ours` leaves unset is not compared (the API server's defaults)."""
    if ours is None or ours == {} or ours == []:
        return True
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(
            derivative(value, theirs.get(key)) for key, value in ours.items()
        )
    if isinstance(ours, list):
        return (
            isinstance(theirs, list)
            and len(ours) == len(theirs)
            and all(derivative(a, b) for a, b in zip(ours, theirs, strict=True))
        )
    return bool(ours == theirs)


class ArgoRolloutsBackend:
    def __init__(
        self,
        target: ArgoRolloutsTarget,
        *,
        strategy: str,
        clock: Clock,
        kind: str = "deploy",
        context: DeployContext | None = None,
        connect: Connect = KubeClient.connect,
    ) -> None:
        self.target = target
        self.strategy = strategy
        self.clock = clock
        self.kind = kind
        self.context = context or DeployContext()
        self.connect = connect

    @property
    def label(self) -> str:
        return f"Rollout {self.target.namespace}/{self.target.rollout}"

    def _not_found(self) -> str:
        return (
            f"{self.label} does not exist: check argo_rollouts.namespace and"
            " argo_rollouts.rollout, and that Argo Rollouts is installed in the cluster"
            " (kubectl get crd rollouts.argoproj.io)."
        )

    def _get(self, api: Rollouts) -> Obj:
        try:
            return api.get(self.target.rollout)
        except KubeNotFoundError as exc:
            raise DeployError(self._not_found(), hint=exc.hint, changed=False) from None

    def current(self) -> Running:
        """What serves: the spec's image once the update is done; while one is in flight (or
        aborted), the stable ReplicaSet's - as the Kubernetes canary reports its stable side,
        so a resumed deployment does not take a Rollout paused at 20% for finished."""
        with self.connect(self.target) as kube:
            api = Rollouts(kube)
            obj = self._get(api)
            view = read(obj, self.target.container)
            if view.image is None:
                raise DeployError(self._no_container(obj), changed=False)
            stable = None if view.done else self._stable_set(api, obj, view)
        state = f"{view.phase}, step {view.step_index}" if view.updating else view.phase
        extra = {"rollout": self.target.rollout, "rollout_phase": view.phase}
        stable_image = image_of(stable, self.target.container) if stable is not None else None
        if stable is None or stable_image is None or stable_image == view.image:
            return Running(
                summary=f"{view.image} (revision {view.revision}, {state or 'no status'})",
                version=split_image(view.image)[1],
                image=view.image,
                revision=str(view.revision) if view.revision else None,
                extra=extra,
            )
        revision = revision_of(stable)
        return Running(
            summary=f"{stable_image} (stable, revision {revision}); an update to {view.image}"
            f" is in flight (revision {view.revision}, {state or 'no status'})",
            version=split_image(stable_image)[1],
            image=stable_image,
            revision=str(revision) if revision else None,
            extra={**extra, "updating_to": view.image},
        )

    @staticmethod
    def _stable_set(api: Rollouts, obj: Obj, view: RolloutView) -> Obj | None:
        """The ReplicaSet of ``status.stableRS`` (None before the controller named one)."""
        if not view.stable_hash:
            return None
        return next(
            (
                rs
                for rs in api.replica_sets(obj)
                if ((rs.get("metadata") or {}).get("labels") or {}).get(POD_TEMPLATE_HASH)
                == view.stable_hash
            ),
            None,
        )

    def _no_container(self, obj: Obj) -> str:
        names = ", ".join(str(c.get("name", "?")) for c in containers(obj)) or "none"
        return (
            f"{self.label} has no container {self.target.container!r} (it has: {names});"
            " check argo_rollouts.container."
        )

    def consistency(self) -> list[str]:
        """The Rollout against the config: it exists, runs the configured container from the
        configured repository, and every desired replica is ready."""
        try:
            with self.connect(self.target) as kube:
                obj = Rollouts(kube).get(self.target.rollout)
        except KubeNotFoundError:
            return [self._not_found()]
        except KubeError as exc:
            return [exc.message]
        problems = self._image_problems(obj, read(obj, self.target.container))
        return problems + unready(obj, self.label)

    def validate(self, version: str) -> list[str]:
        problems = image_problems(self.target.image, version, setting="argo_rollouts.image")
        try:
            with self.connect(self.target) as kube:
                obj = Rollouts(kube).get(self.target.rollout)
        except KubeNotFoundError:
            return [*problems, self._not_found()]
        except KubeError as exc:
            return [*problems, exc.message]
        return problems + self._rollout_problems(obj)

    def _image_problems(self, obj: Obj, view: RolloutView) -> list[str]:
        if view.image is None:
            return [self._no_container(obj)]
        if split_image(view.image)[0] != self.target.image:
            return [
                f"{self.label} runs {view.image}, which is not from the configured repository"
                f" {self.target.image}: check argo_rollouts.image."
            ]
        return []

    def _rollout_problems(self, obj: Obj) -> list[str]:
        view = read(obj, self.target.container)
        problems = []
        found = strategy_of(obj)
        if found != self.strategy:
            problems.append(
                f"{self.label} uses strategy {found or 'none'}, but this environment says"
                f" {self.strategy}: make the environment's strategy match the Rollout's."
            )
        problems += self._image_problems(obj, view)
        if view.paused:
            problems.append(
                f"{self.label} is paused: promote or resume it first (kubectl argo rollouts"
                f" promote {self.target.rollout} -n {self.target.namespace})."
            )
        elif view.updating and not view.aborted:
            problems.append(
                f"an update of {self.label} is in progress ({view.phase}: {view.message});"
                " wait for it, or abort it."
            )
        return problems

    # ----------------------------------------------------------------- deploy

    def deploy(
        self, version: str, *, progress: Progress, should_abort: ShouldAbort
    ) -> dict[str, Any]:
        problems = image_problems(self.target.image, version, setting="argo_rollouts.image")
        if problems:  # nothing is written with a version that is not a tag
            raise DeployError(" ".join(problems), changed=False)
        image = f"{self.target.image}:{version}"
        name = self.target.rollout
        with self.connect(self.target) as kube:
            api = Rollouts(kube)
            before = self._get(api)
            index = container_index(before, self.target.container)
            if index is None:
                raise DeployError(self._no_container(before), changed=False)
            old_image = image_of(before, self.target.container)
            recorded = self.context.recorded()
            seen = read(before, self.target.container)
            # The spec names this image already after an abort of it: the plugin's `retry`
            # starts that update again - unless a restarted bot finds its own write.
            retry = old_image == image and seen.aborted and recorded is None
            stable_image = (
                recorded.stable_image if recorded is not None and old_image == image else old_image
            )
            if retry:
                stable = self._stable_set(api, before, seen)
                stable_image = image_of(stable, self.target.container) if stable else None
            if should_abort():
                raise AbortedError("Rollback requested before anything was changed.", changed=False)
            watch = RolloutWatch(
                api,
                self.target,
                clock=self.clock,
                context=self.context,
                progress=progress,
                should_abort=should_abort,
                version=version,
                stable_image=stable_image,
            )
            if old_image != image or retry:
                problems = self._rollout_problems(before)
                if problems:
                    raise DeployError(" ".join(problems), changed=False)
            if retry:
                progress(f"{self.label} aborted its update to {image}: retrying it")
                api.retry(name)
            elif old_image != image:
                progress(f"setting {self.target.container} of {self.label} to {image}")
                api.set_image(name, index, self.target.container, image)
            else:  # a restarted bot finds its own write: follow, never write twice
                progress(f"{self.label} already has {image}: following it")
            done = watch.until_done()
        return {
            "summary": f"{image} rolled out by {self.label} (revision {done.revision})",
            "strategy": self.strategy,
            "namespace": self.target.namespace,
            "rollout": name,
            "image": image,
            "version": version,
            "revision": str(done.revision),
            "previous_image": stable_image,
            "previous_revision": str(revision_of(before)),
            "promoted_by_person": watch.promoted,
        }

    # ----------------------------------------------------------------- rollback

    def rollback(
        self,
        *,
        to_version: str | None,
        before: dict[str, Any],
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> dict[str, Any]:
        name = self.target.rollout
        with self.connect(self.target) as kube:
            api = Rollouts(kube)
            obj = self._get(api)
            view = read(obj, self.target.container)
            aborted = False
            if view.updating and not view.aborted:
                progress(f"aborting the update of {self.label}: traffic back to stable")
                api.abort(name)
                aborted = True
            if self.target.rollback == "abort":
                if not aborted:
                    where = "is already aborted" if view.aborted else "is not updating"
                    raise AlreadyThereError(
                        f"{self.label} {where}: there is nothing to abort.",
                        hint="With argo_rollouts.rollback: abort the bot only aborts updates in"
                        " flight; change the Rollout's spec (GitOps) to go back further.",
                    )
                return {
                    "summary": f"{self.label} aborted: traffic back on the stable ReplicaSet"
                    f" ({view.stable_hash}); its spec still names {view.image}",
                    "strategy": self.strategy,
                    "image": view.image,
                    "version": split_image(view.image or "")[1],
                    "revision": str(view.revision),
                }
            chosen = self._choose(api.replica_sets(obj), obj, to_version, before)
            image = image_of(chosen, self.target.container) or "?"
            chosen_revision = revision_of(chosen)
            if derivative(_template(obj), _template(chosen)):
                if aborted:
                    return {
                        "summary": f"{self.label} aborted; its template is already revision"
                        f" {chosen_revision} ({image})",
                        "strategy": self.strategy,
                        "image": image,
                        "version": split_image(image)[1],
                        "revision": str(view.revision),
                    }
                raise AlreadyThereError(
                    f"{self.label}: skipped rollback (current template already matches"
                    f" revision {chosen_revision}, {image}); nothing was changed.",
                    hint="Pick another version with /hotfix rollback --version=…, or deploy one.",
                )
            template = copy.deepcopy(chosen["spec"]["template"])
            labels = (template.get("metadata") or {}).get("labels")
            if isinstance(labels, dict):
                labels.pop(POD_TEMPLATE_HASH, None)
            progress(f"rolling {self.label} back to revision {chosen_revision} ({image})")
            api.restore_template(name, template)
            finished = RolloutWatch(
                api,
                self.target,
                clock=self.clock,
                context=DeployContext(service=self.context.service),  # no card steering
                progress=progress,
                should_abort=lambda: False,  # a rollback is not itself rolled back
                version=split_image(image)[1] or image,
                stable_image=view.image,
                image=image,
                promote_full=True,
            ).until_done()
        return {
            "summary": f"back on {image}: revision {chosen_revision} restored as revision"
            f" {finished.revision}",
            "strategy": self.strategy,
            "image": image,
            "version": split_image(image)[1],
            "from_revision": str(view.revision),
            "restored_revision": str(chosen_revision),
            "revision": str(finished.revision),
        }

    def _choose(
        self, sets: list[Obj], obj: Obj, to_version: str | None, before: Mapping[str, Any]
    ) -> Obj:
        container = self.target.container
        if to_version is not None:
            return that_ran(sets, container, to_version, label=self.label, revision=revision_of)
        wanted = before.get("image") if self.kind == "deploy" else None
        if wanted and wanted != image_of(obj, container):
            matches = [rs for rs in sets if image_of(rs, container) == wanted]
            if matches:
                return matches[-1]
        latest = revision_of(sets[-1]) if sets else 0
        older = [rs for rs in sets if revision_of(rs) < latest]
        if not older:  # the plugin: no revision found for rollout
            available = revisions_text(sets, container, revision=revision_of)
            raise DeployError(
                f"{self.label} has no earlier revision to roll back to. Available:"
                f" {available or 'none'}.",
                hint="Deploy the version you want with /hotfix deploy.",
                changed=False,
            )
        return older[-1]
