"""A workload's revisions as its ReplicaSets keep them: what each ran, and finding the one
that ran a version (`kubectl rollout undo --to-revision`, `kubectl argo rollouts undo`)."""

from __future__ import annotations

from collections.abc import Callable

from services.errors import DeployError
from services.kube.images import image_of, split_image
from services.kube.objects import Obj, revision_of

# A ReplicaSet's revision: a Deployment's annotation (the default) or an Argo Rollout's.
Revision = Callable[[Obj], int]


def revisions_text(
    sets: list[Obj],
    container: str,
    *,
    current: int | None = None,
    revision: Revision = revision_of,
) -> str:
    """ "v2.1.1 (revision 3, current), v2.1.0 (revision 2)", newest first."""
    return ", ".join(
        f"{split_image(image_of(rs, container) or '?')[1] or '?'} (revision {revision(rs)}"
        + (", current)" if revision(rs) == current else ")")
        for rs in reversed(sets)
    )


def that_ran(
    sets: list[Obj],
    container: str,
    version: str,
    *,
    label: str,
    current: int | None = None,
    revision: Revision = revision_of,
) -> Obj:
    """The newest revision whose `container` ran `version`; refused, naming the others."""
    matches = [rs for rs in sets if split_image(image_of(rs, container) or "")[1] == version]
    if not matches:
        available = revisions_text(sets, container, current=current, revision=revision)
        raise DeployError(
            f"No revision of {label} ran version {version}. Available: {available or 'none'}.",
            hint=f"Deploy {version} with /hotfix deploy, or roll back to one of those.",
            changed=False,
        )
    return matches[-1]
