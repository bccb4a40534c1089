"""Start a hotfix, and report on open ones."""

from __future__ import annotations

from pathlib import Path

from .branches import (
    branch_matches_issue,
    hotfix_branch_name,
    hotfix_branches,
    issue_key_of,
    resolves_issue,
)
from .errors import (
    HotfixExistsError,
    InvalidInputError,
    OtherHotfixOpenError,
    RepositoryStateError,
)
from .results import HotfixBranchStatus, HotfixCreated, RefUpdate
from .session import (
    open_session,
    prune_stale_hotfixes,
    push_failure,
    release_baseline,
    remote_branches,
    require_clean,
    require_remote_branch,
)
from .settings import RepositorySettings
from .validation import validate_branch_name, validate_issue_key, validate_trailer_value
from .versions import format_tag, next_patch, parse_tag
from .working_copy import GitRepository


def create_hotfix(
    *,
    settings: RepositorySettings,
    clone: Path | str,
    issue_key: str,
    description: str | None = None,
    base: str | None = None,
    severity: str | None = None,
    actor: str | None = None,
) -> HotfixCreated:
    """Cut ``hotfix/<ISSUE>-<slug>`` from production's tip (or ``base``) and push it.

    The production baseline is the newest release tag (``<prefix>X.Y.Z``, no
    pre-release) reachable from ``<remote>/<production>``; the next version is
    its patch bump, or ``0.0.1`` when production has no release tag yet.
    Under git-flow only one hotfix may be open (nvie's and AVH's default);
    under trunk several may.
    """
    key = validate_issue_key(issue_key, settings.issue_key_pattern)
    branch = hotfix_branch_name(settings, key, description)
    if base is not None:
        validate_branch_name(base, "base")
    severity = validate_trailer_value(severity, "severity")
    remote = settings.remote

    with open_session(
        settings=settings, clone=clone, operation="hotfix create", issue_key=key, actor=actor
    ) as repo:
        require_clean(repo)
        repo.fetch(remote)
        remote_heads = remote_branches(repo, remote)
        production_sha = require_remote_branch(remote_heads, settings.production_branch, remote)
        prune_stale_hotfixes(repo, settings, production_sha)

        on_remote = hotfix_branches(
            settings, (f"refs/heads/{b}" for b in remote_heads), "refs/heads/"
        )
        local = hotfix_branches(settings, repo.refs("refs/heads/"), "refs/heads/")
        for name in on_remote:
            if branch_matches_issue(settings, name, key):
                raise HotfixExistsError(key, name, f"on {remote}")
        for name in local:
            if branch_matches_issue(settings, name, key):
                raise HotfixExistsError(key, name, "in the bot's clone (not pushed)")
        if settings.branch_model == "gitflow":
            others = sorted(set(on_remote) | set(local))
            if others:
                raise OtherHotfixOpenError(others)

        base_ref, base_sha = _resolve_base(repo, settings, base, remote_heads, production_sha)
        baseline = release_baseline(repo, settings, production_sha, repo.ls_remote(remote))
        baseline_sha = repo.rev_parse(f"refs/tags/{baseline.name}") if baseline else production_sha
        assert baseline_sha is not None
        upcoming = next_patch(baseline.version if baseline else None)

        repo.create_branch(branch, base_sha)
        try:
            outcome = repo.push(
                remote, [f"refs/heads/{branch}:refs/heads/{branch}"], set_upstream=True
            )
        except BaseException:
            repo.delete_branch(branch)
            raise
        if not outcome.ok:
            repo.delete_branch(branch)
            raise push_failure(outcome, expected={f"refs/heads/{branch}": None})

        return HotfixCreated(
            issue_key=key,
            branch=branch,
            branch_model=settings.branch_model,
            remote=remote,
            base_ref=base_ref,
            base_sha=base_sha,
            baseline_tag=baseline.name if baseline else None,
            baseline_sha=baseline_sha,
            next_version=str(upcoming),
            next_tag=format_tag(settings.tag_prefix, upcoming),
            issue_url=settings.issue_url(key),
            severity=severity,
            pushed_refs=(RefUpdate(f"refs/heads/{branch}", None, base_sha),),
        )


def _resolve_base(
    repo: GitRepository,
    settings: RepositorySettings,
    base: str | None,
    remote_heads: dict[str, str],
    production_sha: str,
) -> tuple[str, str]:
    remote = settings.remote
    if base is None or base == settings.production_branch:
        return f"{remote}/{settings.production_branch}", production_sha
    if base in remote_heads:
        ref, sha = f"{remote}/{base}", remote_heads[base]
    else:
        tag_sha = repo.rev_parse(f"refs/tags/{base}")
        if tag_sha is None:
            raise InvalidInputError(
                "base", f"base {base!r} is neither a branch on {remote} nor a tag"
            )
        ref, sha = base, tag_sha
    if not repo.is_ancestor(sha, production_sha):
        raise InvalidInputError(
            "base",
            f"base {base!r} is not part of {settings.production_branch}; a hotfix must start "
            "from what is (or was) in production",
        )
    return ref, sha


def hotfix_status(
    *,
    settings: RepositorySettings,
    clone: Path | str,
    issue_key: str | None = None,
    actor: str | None = None,
) -> list[HotfixBranchStatus]:
    """Open hotfix branches on the remote, compared with production (after a fetch)."""
    key = validate_issue_key(issue_key, settings.issue_key_pattern) if issue_key else None
    remote = settings.remote
    with open_session(
        settings=settings, clone=clone, operation="hotfix status", issue_key=key, actor=actor
    ) as repo:
        repo.fetch(remote)
        remote_heads = remote_branches(repo, remote)
        production_sha = remote_heads.get(settings.production_branch)
        if production_sha is None:
            raise RepositoryStateError(
                f"branch {settings.production_branch} does not exist on {remote}"
            )
        statuses = []
        for name in hotfix_branches(
            settings, (f"refs/heads/{b}" for b in remote_heads), "refs/heads/"
        ):
            if key is not None and not branch_matches_issue(settings, name, key):
                continue
            sha = remote_heads[name]
            branch_key = issue_key_of(settings, name)
            ahead = repo.count(production_sha, sha)
            statuses.append(
                HotfixBranchStatus(
                    issue_key=branch_key,
                    branch=name,
                    sha=sha,
                    ahead=ahead,
                    behind=repo.count(sha, production_sha),
                    last_commit=repo.commit_info(sha),
                    merged_into_production=ahead == 0,
                    finished_tag=(
                        _finished_tag(repo, settings, sha, production_sha, branch_key)
                        if ahead == 0
                        else None
                    ),
                    issue_url=settings.issue_url(branch_key) if branch_key else None,
                )
            )
        return statuses


def _finished_tag(
    repo: GitRepository,
    settings: RepositorySettings,
    sha: str,
    production_sha: str,
    issue_key: str | None,
) -> str | None:
    """The release tag that shipped hotfix tip ``sha``, if any.

    A tag counts when its message resolves the branch's issue (what the bot
    writes) or when it sits on a merge commit that has ``sha`` as a
    non-first parent (a git-flow finish done by hand).
    """
    candidates = [
        tag
        for tag in (
            parse_tag(name, settings.tag_prefix)
            for name in repo.tags_containing(sha, merged_into=production_sha)
        )
        if tag is not None and tag.is_release
    ]
    for tag in sorted(candidates, key=lambda t: t.version):
        if issue_key and resolves_issue(repo.tag_message(tag.name), issue_key):
            return tag.name
        tagged = repo.rev_parse(f"refs/tags/{tag.name}")
        if tagged is not None and sha in repo.parents(tagged)[1:]:
            return tag.name
    return None
