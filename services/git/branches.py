"""Hotfix branch names and messages (pure functions, no git)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .settings import RepositorySettings
from .validation import slugify, validate_branch_name


def hotfix_branch_name(
    settings: RepositorySettings, issue_key: str, description: str | None
) -> str:
    """``hotfix/<ISSUE>-<slug>``, or ``hotfix/<ISSUE>`` without a usable description."""
    slug = slugify(description)
    name = f"{settings.hotfix_prefix}{issue_key}" + (f"-{slug}" if slug else "")
    return validate_branch_name(name)


def branch_matches_issue(settings: RepositorySettings, branch: str, issue_key: str) -> bool:
    """True for ``hotfix/KEY`` and ``hotfix/KEY-anything`` (not ``hotfix/KEY9``)."""
    stem = f"{settings.hotfix_prefix}{issue_key}"
    return branch == stem or branch.startswith(stem + "-")


def issue_key_of(settings: RepositorySettings, branch: str) -> str | None:
    """The issue key a hotfix branch was named after, if it follows the convention."""
    if not branch.startswith(settings.hotfix_prefix):
        return None
    rest = branch[len(settings.hotfix_prefix) :]
    for end in [i for i, c in enumerate(rest) if c == "-"] + [len(rest)]:
        candidate = rest[:end]
        if re.fullmatch(settings.issue_key_pattern, candidate):
            return candidate
    return None


def hotfix_branches(settings: RepositorySettings, refs: Iterable[str], namespace: str) -> list[str]:
    """Short branch names under ``namespace`` + ``hotfix_prefix`` among ``refs``."""
    start = namespace + settings.hotfix_prefix
    return sorted(ref[len(namespace) :] for ref in refs if ref.startswith(start))


def trailers(issue_key: str, severity: str | None, incident_id: str | None) -> list[str]:
    lines = [f"Resolves: {issue_key}"]
    if severity:
        lines.append(f"Severity: {severity}")
    if incident_id:
        lines.append(f"Incident: {incident_id}")
    return lines


def resolves_issue(message: str, issue_key: str) -> bool:
    """Whether a commit or tag message carries the `Resolves:` trailer `trailers` writes."""
    return re.search(rf"^Resolves: {re.escape(issue_key)}$", message, re.M) is not None


def compose_message(subject: str, body: str | None, trailer_lines: list[str]) -> str:
    parts = [subject]
    if body:
        parts.append(body)
    parts.append("\n".join(trailer_lines))
    return "\n\n".join(parts) + "\n"
