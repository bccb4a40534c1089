"""Blue-green: two Deployments (one per colour) behind one Service whose selector picks the colour.

deploy: the idle colour gets the new image and the active colour's replica count, its
rollout is awaited (`kubectl rollout status` rules), then one patch of the Service's
selector moves the traffic. The old colour keeps running, so going back is one more
selector patch; `bluegreen_cleanup.scale_down_idle` scales it to 0 later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.clock import Clock
from services.deploy.backend import AbortedError, AlreadyThereError, Progress, Running, ShouldAbort
from services.deploy.backends.kubernetes.rolling import Connect
from services.deploy.backends.kubernetes.rollout import (
    consistency,
    deployment_problems,
    refuse_paused,
    rollout_status,
    running,
    wait_for_rollout,
)
from services.deploy.backends.kubernetes.settings import BlueGreenSettings, KubernetesTarget
from services.errors import DeployError
from services.kube.client import KubeClient, KubeError, KubeNotFoundError, Obj
from services.kube.images import image_of, image_problems, split_image


def colour_deployment(target: KubernetesTarget, colour: str) -> str:
    """The name of a colour's Deployment, from `blue_green.deployment_pattern`."""
    assert target.blue_green is not None
    try:
        return target.blue_green.deployment_pattern.format(
            deployment=target.deployment, color=colour
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise DeployError(
            f"kubernetes.blue_green.deployment_pattern {target.blue_green.deployment_pattern!r}"
            f" cannot be filled in: {exc}.",
            hint="Use only {deployment} and {color} in it, e.g. {deployment}-{color}.",
            changed=False,
        ) from None


def active_colour(service: Obj, settings: BlueGreenSettings) -> str:
    """The colour the Service's selector picks now."""
    selector = (service.get("spec") or {}).get("selector") or {}
    colour = selector.get(settings.color_label)
    if colour not in settings.colors:
        meta = service.get("metadata") or {}
        raise DeployError(
            f"Service {meta.get('namespace')}/{meta.get('name')} selects"
            f" {settings.color_label}={colour or '(nothing)'}, not one of"
            f" {' / '.join(settings.colors)}.",
            hint=f"Point its selector at one colour (kubectl patch service … -p"
            f' \'{{"spec":{{"selector":{{"{settings.color_label}":"{settings.colors[0]}"}}}}}}\'),'
            " or fix kubernetes.blue_green in the config.",
            changed=False,
        )
    return str(colour)


def other_colour(settings: BlueGreenSettings, colour: str) -> str:
    first, second = settings.colors
    return second if colour == first else first


class BlueGreenBackend:
    """`kind` as in RollingBackend: undoing a *deploy* goes back to the colour that served
    `before` it; a requested *rollback* goes to the other colour."""

    def __init__(
        self,
        target: KubernetesTarget,
        *,
        clock: Clock,
        kind: str = "deploy",
        connect: Connect = KubeClient.connect,
    ) -> None:
        if target.blue_green is None:
            raise DeployError(
                "Blue-green needs kubernetes.blue_green in the config.", changed=False
            )
        self.target = target
        self.settings: BlueGreenSettings = target.blue_green
        self.clock = clock
        self.kind = kind
        self.connect = connect

    @property
    def service_label(self) -> str:
        return f"Service {self.target.namespace}/{self.settings.service}"

    def _wait(
        self,
        kube: KubeClient,
        name: str,
        *,
        progress: Progress,
        should_abort: ShouldAbort,
        image: str | None,
    ) -> Obj:
        return wait_for_rollout(
            kube,
            name,
            target=self.target,
            clock=self.clock,
            progress=progress,
            should_abort=should_abort,
            image=image,
        )

    # -- reading -------------------------------------------------------------

    def current(self) -> Running:
        with self.connect(self.target) as kube:
            colour = active_colour(kube.get_service(self.settings.service), self.settings)
            name = colour_deployment(self.target, colour)
            deployment = kube.get_deployment(name)
        return running(deployment, self.target, color=colour, deployment=name)

    def consistency(self) -> list[str]:
        """The active colour's Deployment (the one serving) against the config."""
        try:
            with self.connect(self.target) as kube:
                try:
                    service = kube.get_service(self.settings.service)
                except KubeNotFoundError:
                    return [
                        f"{self.service_label} does not exist: check kubernetes.blue_green.service."
                    ]
                colour = active_colour(service, self.settings)
                return consistency(kube, self.target, colour_deployment(self.target, colour))
        except (KubeError, DeployError) as exc:
            return [exc.message]

    def validate(self, version: str) -> list[str]:
        problems = image_problems(self.target.image, version, setting="kubernetes.image")
        try:
            with self.connect(self.target) as kube:
                try:
                    service = kube.get_service(self.settings.service)
                except KubeNotFoundError:
                    return [
                        *problems,
                        f"{self.service_label} does not exist: check kubernetes.blue_green.service.",
                    ]
                try:
                    active_colour(service, self.settings)
                except DeployError as exc:
                    problems.append(exc.message)
                for colour in self.settings.colors:
                    name = colour_deployment(self.target, colour)
                    try:
                        deployment = kube.get_deployment(name)
                    except KubeNotFoundError:
                        problems.append(
                            f"Deployment {self.target.namespace}/{name} ({colour}) does not exist:"
                            " blue-green needs one Deployment per colour"
                            " (kubernetes.blue_green.deployment_pattern)."
                        )
                        continue
                    problems += [
                        f"{colour}: {p}" for p in deployment_problems(deployment, self.target)
                    ]
        except KubeError as exc:
            problems.append(exc.message)
        except DeployError as exc:
            problems.append(exc.message)
        return problems

    # -- deploying -----------------------------------------------------------

    def deploy(
        self, version: str, *, progress: Progress, should_abort: ShouldAbort
    ) -> dict[str, Any]:
        image = f"{self.target.image}:{version}"
        with self.connect(self.target) as kube:
            active = active_colour(kube.get_service(self.settings.service), self.settings)
            idle = other_colour(self.settings, active)
            active_name = colour_deployment(self.target, active)
            idle_name = colour_deployment(self.target, idle)
            serving = kube.get_deployment(active_name)
            idle_before = kube.get_deployment(idle_name)
            refuse_paused(idle_before, doing="deploy to")
            replicas = int((serving.get("spec") or {}).get("replicas", 1))
            if should_abort():
                raise AbortedError("Rollback requested before anything was changed.", changed=False)
            progress(f"{idle} ({idle_name}): setting {self.target.container} to {image}")
            kube.set_image(idle_name, self.target.container, image)
            if int((idle_before.get("spec") or {}).get("replicas", 1)) != replicas:
                progress(f"{idle} ({idle_name}): scaling to {replicas} replica(s), as {active}")
                try:
                    kube.scale(idle_name, replicas)
                except KubeError as exc:
                    exc.changed = True
                    raise
            self._wait(kube, idle_name, progress=progress, should_abort=should_abort, image=image)
            if should_abort():
                raise AbortedError(
                    f"Rollback requested before the switch: {self.service_label} still sends"
                    f" traffic to {active}."
                )
            try:
                still = active_colour(kube.get_service(self.settings.service), self.settings)
                if still != active:
                    raise DeployError(
                        f"{self.service_label} was switched to {still} by someone else while"
                        f" {idle} rolled out; not switching it.",
                        hint="Find out who switched it before deploying again.",
                    )
                progress(f"switching {self.service_label} from {active} to {idle}")
                kube.set_service_selector(self.settings.service, {self.settings.color_label: idle})
            except KubeError as exc:
                exc.changed = True
                raise
        return {
            "summary": f"{self.settings.service} now sends traffic to {idle} ({image});"
            f" {active} keeps {replicas} replica(s) for a quick switch back",
            "strategy": "blue-green",
            "namespace": self.target.namespace,
            "service": self.settings.service,
            "image": image,
            "version": version,
            "previous_color": active,
            "new_color": idle,
            "old_replicas": replicas,
            "previous_deployment": active_name,
            "new_deployment": idle_name,
            "previous_image": image_of(serving, self.target.container),
        }

    # -- rolling back --------------------------------------------------------

    def rollback(
        self,
        *,
        to_version: str | None,
        before: dict[str, Any],
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> dict[str, Any]:
        with self.connect(self.target) as kube:
            service = kube.get_service(self.settings.service)
            active = active_colour(service, self.settings)
            goal = self._goal(kube, active, to_version, before)
            if goal == active:
                return self._nothing_to_switch(kube, active, progress)
            name = colour_deployment(self.target, goal)
            deployment = kube.get_deployment(name)
            serving = kube.get_deployment(colour_deployment(self.target, active))
            wanted = int((serving.get("spec") or {}).get("replicas", 1))
            have = int((deployment.get("spec") or {}).get("replicas", 1))
            if have == 0:
                progress(f"{goal} ({name}) was scaled down: scaling it to {wanted} first")
                kube.scale(name, wanted)
                deployment = self._wait(
                    kube, name, progress=progress, should_abort=should_abort, image=None
                )
            elif not rollout_status(deployment).done:
                refuse_paused(deployment, doing="switch back to")
                progress(f"{goal} ({name}) is not fully available yet: waiting for it")
                deployment = self._wait(
                    kube, name, progress=progress, should_abort=should_abort, image=None
                )
            progress(f"switching {self.service_label} back from {active} to {goal}")
            try:
                kube.set_service_selector(self.settings.service, {self.settings.color_label: goal})
            except KubeError as exc:
                exc.changed = exc.changed or have == 0
                raise
        image = image_of(deployment, self.target.container)
        return {
            "summary": f"{self.settings.service} sends traffic to {goal} ({image}) again",
            "strategy": "blue-green",
            "switched": True,
            "from_color": active,
            "to_color": goal,
            "image": image,
            "version": split_image(image or "")[1],
            "scaled_up_to": wanted if have == 0 else None,
        }

    def _goal(
        self, kube: KubeClient, active: str, to_version: str | None, before: Mapping[str, Any]
    ) -> str:
        if to_version is not None:
            found: dict[str, str | None] = {}
            for colour in self.settings.colors:
                deployment = kube.get_deployment(colour_deployment(self.target, colour))
                found[colour] = split_image(image_of(deployment, self.target.container) or "")[1]
            matching = [c for c, v in found.items() if v == to_version]
            if not matching:
                listing = ", ".join(f"{c}: {v or '?'}" for c, v in found.items())
                raise DeployError(
                    f"Neither colour runs {to_version} ({listing}).",
                    hint=f"Deploy {to_version} with /hotfix deploy: it goes to the idle colour.",
                    changed=False,
                )
            if active in matching:
                raise AlreadyThereError(
                    f"{self.service_label}: skipped rollback (it already sends traffic to"
                    f" {active}, which runs {to_version}); nothing was changed."
                )
            return matching[0]
        if self.kind == "deploy":
            previous = before.get("color")
            if previous not in self.settings.colors:
                raise DeployError(
                    "It is not known which colour served before this deployment.",
                    hint="Switch the Service by hand, or roll back with --version=….",
                    changed=False,
                )
            return str(previous)
        return other_colour(self.settings, active)

    def _nothing_to_switch(
        self, kube: KubeClient, active: str, progress: Progress
    ) -> dict[str, Any]:
        """Undo of a deploy that never switched: traffic never left `active`; stop the idle colour's
        failed rollout so its pods don't linger."""
        idle = other_colour(self.settings, active)
        idle_name = colour_deployment(self.target, idle)
        progress(f"{self.service_label} still sends traffic to {active}: no switch needed")
        progress(f"{idle} ({idle_name}): scaling the unfinished rollout to 0")
        kube.scale(idle_name, 0)
        serving = kube.get_deployment(colour_deployment(self.target, active))
        image = image_of(serving, self.target.container)
        return {
            "summary": f"{self.settings.service} still sends traffic to {active} ({image});"
            f" {idle} scaled to 0",
            "strategy": "blue-green",
            "switched": False,
            "to_color": active,
            "image": image,
            "version": split_image(image or "")[1],
            "scaled_down": idle,
        }
