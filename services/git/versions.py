"""Semantic versions and version tags (``<prefix>MAJOR.MINOR.PATCH``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import semver

from .errors import InvalidInputError

#: The version used as "previous release" when production has no version tag:
#: the first hotfix is then the patch bump of 0.0.0, i.e. ``0.0.1``.
NO_RELEASE = semver.Version(0, 0, 0)


@dataclass(frozen=True, slots=True)
class VersionTag:
    """A tag name and the semantic version it carries."""

    name: str
    version: semver.Version

    @property
    def is_release(self) -> bool:
        return self.version.prerelease is None


def parse_tag(name: str, prefix: str) -> VersionTag | None:
    """The version in tag ``name`` if it is ``prefix`` + a valid semver, else None."""
    if not name.startswith(prefix):
        return None
    text = name[len(prefix) :]
    if not text or not text[0].isdigit():
        return None
    try:
        version = semver.Version.parse(text)
    except ValueError:
        return None
    return VersionTag(name=name, version=version)


def newest_release(tag_names: Iterable[str], prefix: str) -> VersionTag | None:
    """The highest non-pre-release version tag among ``tag_names``.

    Pre-release tags (``v2.2.0-rc.1``) and names that are not semver are
    ignored. Ties in precedence (build metadata) go to the shortest name.
    """
    best: VersionTag | None = None
    for name in tag_names:
        tag = parse_tag(name, prefix)
        if tag is None or not tag.is_release:
            continue
        if best is None:
            best = tag
            continue
        order = tag.version.compare(best.version)
        if order > 0 or (order == 0 and (len(tag.name), tag.name) < (len(best.name), best.name)):
            best = tag
    return best


def next_patch(baseline: semver.Version | None) -> semver.Version:
    """The patch bump of ``baseline`` (``2.1.0 -> 2.1.1``); ``0.0.1`` without one."""
    base = baseline if baseline is not None else NO_RELEASE
    return semver.Version(base.major, base.minor, base.patch + 1)


def format_tag(prefix: str, version: semver.Version) -> str:
    return f"{prefix}{version}"


def parse_version_argument(text: str, prefix: str) -> semver.Version:
    """Parse a user-supplied version: ``v2.1.1`` (with the prefix) or ``2.1.1``."""
    candidate = text.strip()
    if prefix and candidate.startswith(prefix):
        candidate = candidate[len(prefix) :]
    try:
        if not candidate or not candidate[0].isdigit():
            raise ValueError(candidate)
        version = semver.Version.parse(candidate)
    except ValueError:
        raise InvalidInputError(
            "version",
            f"invalid version {text[:40]!r}: expected {prefix}MAJOR.MINOR.PATCH, "
            f"e.g. {prefix}2.1.1",
        ) from None
    if version.build is not None:
        raise InvalidInputError("version", "build metadata (+...) is not allowed in a version tag")
    return version


def newest_first(tag_names: Iterable[str], prefix: str) -> list[str]:
    """Release and pre-release version tags, highest version first (for "the latest tags")."""
    tags = [t for t in (parse_tag(name, prefix) for name in tag_names) if t is not None]
    ordered = sorted(tags, key=lambda t: (t.version, -len(t.name)), reverse=True)
    return [t.name for t in ordered]
