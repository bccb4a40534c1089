"""Finish a hotfix: merge (git-flow) or fast-forward + cherry-pick (trunk), tag, push atomically.

All or nothing: every change is made in the bot's clone first, then sent in
one ``git push --atomic``. On any failure the merge or cherry-pick is
aborted and the clone's branches, tags and HEAD are put back as they were;
the remote is untouched because an atomic push changes every ref or none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import semver

from .ancestry import unreleased_commits_carried
from .branches import (
    branch_matches_issue,
    compose_message,
    hotfix_branches,
    issue_key_of,
    resolves_issue,
    trailers,
)
from .errors import (
    AlreadyFinishedError,
    AmbiguousHotfixError,
    BackMergeConflictError,
    CherryPickConflictError,
    EmptyHotfixError,
    GitCommandError,
    InvalidInputError,
    MergeConflictError,
    NoHotfixError,
    NonFastForwardError,
    RepositoryStateError,
    TagExistsError,
    UnreleasedCommitsError,
)
from .restore_point import restore_point
from .results import CherryPick, HotfixFinished, RefUpdate
from .session import (
    check_remote_unchanged,
    open_session,
    prune_stale_hotfixes,
    push_failure,
    release_baseline,
    remote_branches,
    require_clean,
    require_remote_branch,
    restore_or_log,
    sync_local_branch,
)
from .settings import RepositorySettings
from .validation import validate_issue_key, validate_message_extra, validate_trailer_value
from .versions import format_tag, next_patch, parse_tag, parse_version_argument
from .working_copy import GitRepository

log = logging.getLogger(__name__)


@dataclass
class _Plan:
    """What the finish computed and built locally, before pushing."""

    issue_key: str
    branch: str
    hotfix_sha: str
    hotfix_on_remote: bool
    production_old: str
    development_old: str
    version: semver.Version
    tag: str
    baseline_tag: str | None
    trailer_lines: list[str]
    extra: str | None
    hotfix_commits: list[str] = field(default_factory=list)
    production_new: str = ""
    development_new: str = ""
    production_merge: str | None = None
    development_merge: str | None = None
    tag_sha: str = ""
    cherry_picked: list[CherryPick] = field(default_factory=list)


def finish_hotfix(
    *,
    settings: RepositorySettings,
    clone: Path | str,
    issue_key: str | None = None,
    version: str | None = None,
    severity: str | None = None,
    incident_id: str | None = None,
    message_extra: str | None = None,
    actor: str | None = None,
) -> HotfixFinished:
    """Finish the hotfix of ``issue_key`` (default: the only open one).

    git-flow: ``merge --no-ff`` into production, annotated tag on that merge,
    ``merge --no-ff`` of the hotfix branch into develop (nvie's behaviour).
    trunk: production fast-forwards to the hotfix branch, tag, ``cherry-pick -x``
    of the hotfix commits onto main. Then one atomic push of production,
    develop/main, the tag and the hotfix branch's deletion.
    """
    key = validate_issue_key(issue_key, settings.issue_key_pattern) if issue_key else None
    requested = parse_version_argument(version, settings.tag_prefix) if version else None
    severity = validate_trailer_value(severity, "severity")
    incident_id = validate_trailer_value(incident_id, "incident_id")
    extra = validate_message_extra(message_extra)
    remote = settings.remote
    production = settings.production_branch
    development = settings.resolved_development_branch

    with open_session(
        settings=settings, clone=clone, operation="hotfix finish", issue_key=key, actor=actor
    ) as repo:
        require_clean(repo)
        repo.fetch(remote)
        heads = remote_branches(repo, remote)
        production_old = require_remote_branch(heads, production, remote)
        development_old = require_remote_branch(heads, development, remote)
        prune_stale_hotfixes(repo, settings, production_old)
        state = repo.local_state()
        with restore_point(repo, state):
            try:
                branch, on_remote = _select_hotfix(repo, settings, key, heads, production_old)
                branch_key = key or _key_from_branch(settings, branch)
                hotfix_sha = heads[branch] if on_remote else repo.rev_parse(f"refs/heads/{branch}")
                assert hotfix_sha is not None
                remote_refs = repo.ls_remote(remote)
                baseline = release_baseline(repo, settings, production_old, remote_refs)
                chosen = requested or next_patch(baseline.version if baseline else None)
                if baseline is not None and chosen.compare(baseline.version) <= 0:
                    raise InvalidInputError(
                        "version",
                        f"version {format_tag(settings.tag_prefix, chosen)} is not newer than "
                        f"production's {baseline.name}",
                        hint="leave the version out (patch bump) or give a higher one",
                    )
                plan = _Plan(
                    issue_key=branch_key,
                    branch=branch,
                    hotfix_sha=hotfix_sha,
                    hotfix_on_remote=on_remote,
                    production_old=production_old,
                    development_old=development_old,
                    version=chosen,
                    tag=format_tag(settings.tag_prefix, chosen),
                    baseline_tag=baseline.name if baseline else None,
                    trailer_lines=trailers(branch_key, severity, incident_id),
                    extra=extra,
                )
                _check_tag_absent(repo, remote, remote_refs, plan.tag)
                _check_has_commits(repo, plan, production)
                _check_no_unreleased_commits(repo, settings, plan)

                if on_remote:
                    sync_local_branch(repo, branch, remote, hotfix_sha)
                sync_local_branch(repo, production, remote, production_old)
                sync_local_branch(repo, development, remote, development_old)

                if settings.branch_model == "gitflow":
                    _build_gitflow(repo, settings, plan)
                else:
                    _build_trunk(repo, settings, plan)

                expected: dict[str, str | None] = {
                    f"refs/heads/{production}": production_old,
                    f"refs/heads/{development}": development_old,
                    f"refs/tags/{plan.tag}": None,
                }
                if on_remote:
                    expected[f"refs/heads/{branch}"] = hotfix_sha
                check_remote_unchanged(repo, remote, expected, plan.tag)
                updates = _ref_updates(plan, production, development)
                refspecs = [
                    f"{u.new_sha}:{u.ref}" if u.new_sha else f":{u.ref}"
                    for u in updates
                    if not u.ref.startswith("refs/tags/")
                ] + [f"refs/tags/{plan.tag}:refs/tags/{plan.tag}"]
                try:
                    outcome = repo.push(remote, refspecs, atomic=True)
                except GitCommandError:
                    # e.g. the connection dropped after the remote took the push
                    if not _landed(repo, remote, updates):
                        raise
                else:
                    if not outcome.ok:
                        raise push_failure(outcome, expected=expected, tag=plan.tag)
            except BaseException as error:
                restore_or_log(repo, state, error)
                raise

        # Pushed: from here on the remote has changed, so never roll back.
        branch_deleted = _cleanup_after_push(repo, plan, development)
        return HotfixFinished(
            issue_key=plan.issue_key,
            branch=branch,
            branch_model=settings.branch_model,
            remote=remote,
            version=str(plan.version),
            tag=plan.tag,
            tag_sha=plan.tag_sha,
            tagged_sha=plan.production_new,
            baseline_tag=plan.baseline_tag,
            hotfix_sha=hotfix_sha,
            hotfix_commits=tuple(plan.hotfix_commits),
            production_branch=production,
            production_old_sha=production_old,
            production_new_sha=plan.production_new,
            production_merge_sha=plan.production_merge,
            development_branch=development,
            development_old_sha=development_old,
            development_new_sha=plan.development_new,
            development_merge_sha=plan.development_merge,
            cherry_picked=tuple(plan.cherry_picked),
            pushed_refs=tuple(updates),
            branch_deleted=branch_deleted,
            issue_url=settings.issue_url(plan.issue_key),
            severity=severity,
            incident_id=incident_id,
        )


def _key_from_branch(settings: RepositorySettings, branch: str) -> str:
    found = issue_key_of(settings, branch)
    if found is None:
        raise InvalidInputError(
            "issue_key", f"cannot tell the issue key of {branch}", hint="name the issue key"
        )
    return found


def _select_hotfix(
    repo: GitRepository,
    settings: RepositorySettings,
    key: str | None,
    heads: dict[str, str],
    production: str,
) -> tuple[str, bool]:
    """The hotfix branch to finish and whether it exists on the remote."""
    on_remote = set(hotfix_branches(settings, (f"refs/heads/{b}" for b in heads), "refs/heads/"))
    local = set(hotfix_branches(settings, repo.refs("refs/heads/"), "refs/heads/"))
    candidates = sorted(on_remote | local)
    if key is not None:
        candidates = [b for b in candidates if branch_matches_issue(settings, b, key)]
    if not candidates:
        # A second finish (a replay after a crash that came after the push) is told
        # what happened instead of "no such hotfix".
        tag = _release_resolving(repo, settings, key, production) if key else None
        if key and tag:
            raise AlreadyFinishedError(key, tag)
        raise NoHotfixError(key)
    if len(candidates) > 1:
        raise AmbiguousHotfixError(candidates)
    return candidates[0], candidates[0] in on_remote


def _release_resolving(
    repo: GitRepository, settings: RepositorySettings, key: str, production: str
) -> str | None:
    """The release tag on production whose message says it resolves ``key`` (what finish writes)."""
    for name in repo.tags_merged_into(production):
        tag = parse_tag(name, settings.tag_prefix)
        if tag is not None and tag.is_release and resolves_issue(repo.tag_message(name), key):
            return name
    return None


def _check_tag_absent(
    repo: GitRepository, remote: str, remote_refs: dict[str, str], tag: str
) -> None:
    remote_sha = remote_refs.get(f"refs/tags/{tag}")
    if remote_sha is not None:
        raise TagExistsError(tag, f"on {remote}", remote_sha)
    local_sha = repo.rev_parse(f"refs/tags/{tag}")
    if local_sha is not None:
        raise TagExistsError(tag, f"in the bot's clone (not on {remote})", local_sha)


def _check_has_commits(repo: GitRepository, plan: _Plan, production: str) -> None:
    if repo.merge_base(plan.production_old, plan.hotfix_sha) is None:
        raise RepositoryStateError(
            f"{plan.branch} has no common history with {production}",
            hint="recreate the hotfix branch from production",
        )
    plan.hotfix_commits = repo.rev_list("--reverse", plan.hotfix_sha, f"^{plan.production_old}")
    if not plan.hotfix_commits:
        raise EmptyHotfixError(plan.branch, production)


def _check_no_unreleased_commits(
    repo: GitRepository, settings: RepositorySettings, plan: _Plan
) -> None:
    """Refuse a hotfix branch that would release development's unreleased commits."""
    carried = unreleased_commits_carried(
        repo,
        hotfix=plan.hotfix_sha,
        production=plan.production_old,
        development=plan.development_old,
    )
    if not carried:
        return
    unwanted = set(carried)
    fixes = [
        c
        for c in repo.rev_list(
            "--reverse", "--topo-order", "--no-merges", plan.hotfix_sha, f"^{plan.production_old}"
        )
        if c not in unwanted
    ]
    subjects = repo.subjects(plan.hotfix_sha, f"^{plan.production_old}")
    raise UnreleasedCommitsError(
        branch=plan.branch,
        development=settings.resolved_development_branch,
        production=settings.production_branch,
        commits=[(sha, subjects.get(sha, "")) for sha in carried],
        fixes=fixes,
        base=f"{settings.remote}/{settings.production_branch}",
        remote=settings.remote,
    )


def _build_gitflow(repo: GitRepository, settings: RepositorySettings, plan: _Plan) -> None:
    production = settings.production_branch
    development = settings.resolved_development_branch
    source = f"refs/heads/{plan.branch}"

    repo.switch(production)
    merged = repo.merge_no_ff(
        source,
        message=compose_message(
            f"Merge branch '{plan.branch}' into {production}", plan.extra, plan.trailer_lines
        ),
    )
    if not merged.ok:
        files = merged.conflicts
        repo.merge_abort()
        raise MergeConflictError(files=files, branch=production, source=plan.branch)
    plan.production_merge = plan.production_new = _head(repo)

    plan.tag_sha = repo.tag_annotated(plan.tag, plan.production_merge, message=_tag_message(plan))

    repo.switch(development)
    if repo.is_ancestor(plan.hotfix_sha, plan.development_old):
        plan.development_new = plan.development_old  # develop has the fix already
        return
    merged = repo.merge_no_ff(
        source,
        message=compose_message(
            f"Merge branch '{plan.branch}' into {development}", plan.extra, plan.trailer_lines
        ),
    )
    if not merged.ok:
        files = merged.conflicts
        repo.merge_abort()
        raise BackMergeConflictError(
            files=files,
            branch=development,
            source=plan.branch,
            production=production,
            remote=settings.remote,
        )
    plan.development_merge = plan.development_new = _head(repo)


def _build_trunk(repo: GitRepository, settings: RepositorySettings, plan: _Plan) -> None:
    production = settings.production_branch
    development = settings.resolved_development_branch
    if not repo.is_ancestor(plan.production_old, plan.hotfix_sha):
        raise NonFastForwardError(
            branch=production,
            expected_sha=plan.production_old,
            actual_sha=plan.hotfix_sha,
            message=(
                f"{production} has moved on since {plan.branch} was cut, so it cannot "
                f"fast-forward to the hotfix; nothing was pushed"
            ),
            hint=(
                f"rebase {plan.branch} onto {settings.remote}/{production}, push it "
                "(that branch only), then finish again"
            ),
        )
    merges = repo.rev_list("--merges", plan.hotfix_sha, f"^{plan.production_old}")
    if merges:
        raise RepositoryStateError(
            f"{plan.branch} contains merge commits ({merges[0][:10]}); the trunk model "
            "cherry-picks the hotfix commits and needs a linear branch",
            hint=(f"rebase {plan.branch} onto {production} to drop the merges, then finish again"),
        )

    repo.switch(production)
    repo.merge_ff_only(f"refs/heads/{plan.branch}")
    plan.production_new = _head(repo)
    plan.tag_sha = repo.tag_annotated(plan.tag, plan.production_new, message=_tag_message(plan))

    repo.switch(development)
    for commit in plan.hotfix_commits:
        ported = _ported_by_hand(repo, commit, plan)
        if ported is not None:  # what CherryPickConflictError advises: not picked twice
            plan.cherry_picked.append(CherryPick(commit, ported))
            continue
        picked = repo.cherry_pick(commit)
        if picked.ok:
            plan.cherry_picked.append(CherryPick(commit, _head(repo)))
        elif picked.empty:
            repo.cherry_pick_skip()
            plan.cherry_picked.append(CherryPick(commit, None))
        else:
            files = picked.conflicts
            repo.cherry_pick_abort()
            raise CherryPickConflictError(files=files, branch=development, commit=commit)
    plan.development_new = _head(repo)


def _ported_by_hand(repo: GitRepository, commit: str, plan: _Plan) -> str | None:
    """The newest commit on the development branch made by ``cherry-pick -x <commit>``, if any."""
    found = repo.rev_list(
        "-n",
        "1",
        "--fixed-strings",
        f"--grep=(cherry picked from commit {commit})",
        plan.development_old,
        f"^{plan.production_old}",
    )
    return found[0] if found else None


def _head(repo: GitRepository) -> str:
    sha = repo.rev_parse("HEAD")
    assert sha is not None
    return sha


def _tag_message(plan: _Plan) -> str:
    return compose_message(f"Hotfix {plan.tag} ({plan.issue_key})", plan.extra, plan.trailer_lines)


def _ref_updates(plan: _Plan, production: str, development: str) -> list[RefUpdate]:
    updates = [RefUpdate(f"refs/heads/{production}", plan.production_old, plan.production_new)]
    if plan.development_new != plan.development_old:
        updates.append(
            RefUpdate(f"refs/heads/{development}", plan.development_old, plan.development_new)
        )
    updates.append(RefUpdate(f"refs/tags/{plan.tag}", None, plan.tag_sha))
    if plan.hotfix_on_remote:
        updates.append(RefUpdate(f"refs/heads/{plan.branch}", plan.hotfix_sha, None))
    return updates


def _landed(repo: GitRepository, remote: str, updates: list[RefUpdate]) -> bool:
    """Whether the remote holds exactly the values the push was meant to set."""
    current = repo.ls_remote(remote)
    return all(current.get(u.ref) == u.new_sha for u in updates)


def _cleanup_after_push(repo: GitRepository, plan: _Plan, development: str) -> bool:
    """Delete the local hotfix branch (HEAD is on the development branch now)."""
    try:
        if repo.head().branch != development:
            repo.switch(development)
        if repo.rev_parse(f"refs/heads/{plan.branch}") is not None:
            repo.delete_branch(plan.branch)
    except Exception:  # the push succeeded; a leftover local branch is only untidy
        log.exception("could not delete the local branch %s in %s", plan.branch, repo.path)
        return False
    return True
