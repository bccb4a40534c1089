"""A typed version must be a tag of the service's repository, checked before approval.

Services with a git repository configured release by tagging it (`/hotfix finish`), so a
version that is not a tag there is a typo or a release that never happened: it is refused
with the latest tags before anyone is asked to approve it. Services without a repository
have nothing to check against and are not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.errors import UserFacingError
from services.git import HotfixError, remote_tags
from services.settings import Settings

if TYPE_CHECKING:
    from services.deploy.approvals import DeployRequest

LATEST_SHOWN = 5


def check_version(settings: Settings, req: DeployRequest) -> str | None:
    """Refuse a version the repository has no tag for; a note when it could not be read."""
    service = settings.services.get(req.service)
    repository = service.git if service else None
    if repository is None or req.version == "previous":
        return None
    try:
        found = remote_tags(repository)
    except HotfixError as exc:
        # An unreachable git server must not block an emergency deploy: say it, go on.
        return f"version {req.version} not checked against the repository: {exc.message}"
    if req.version in found:
        return None
    latest = ", ".join(found.newest[:LATEST_SHOWN]) or "none"
    raise UserFacingError(
        f"{req.service} has no version {req.version}: its repository has no such tag."
        " Nothing was requested.",
        hint=f"The latest tags: {latest}.",
    )
