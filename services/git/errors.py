"""One error tree for the git hotfix flow, under the domain's base (services.errors).

Every error carries a ``message`` (what happened, safe to show in Slack)
and a ``hint`` (the next step for the engineer). Texts are scrubbed of
credentials (``https://user:token@host`` becomes ``https://***@host``) when
the error is built, so no caller can leak them by accident.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.errors import ConflictError, TemporaryError, UserFacingError

_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s@'\"]+)@")
_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*)(\S+\s+)?\S+")


def scrub(text: str) -> str:
    """Remove credentials from ``text``.

    URL user-info (``scheme://user:password@``, ``scheme://token@``) becomes
    ``scheme://***@``; ``Authorization:`` header values become ``***``.
    scp-like SSH addresses (``git@host:org/repo``) carry no secret and stay.
    """
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}***", text)


class HotfixError(UserFacingError):
    """Base of every error raised by ``services.git``."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(scrub(message), hint=scrub(hint) if hint else None)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} -- {self.hint}"
        return self.message


class InvalidInputError(HotfixError):
    """An argument or a setting failed validation; no git command ran."""

    def __init__(self, field: str, message: str, *, hint: str | None = None) -> None:
        self.field = field
        super().__init__(message, hint=hint)


class RepositoryStateError(HotfixError):
    """The clone or the remote is not in a state the operation can start from."""


class DirtyCloneError(RepositoryStateError):
    """The bot's clone has local changes or an unfinished merge/cherry-pick."""

    def __init__(self, clone: str, details: Sequence[str], *, managed: bool = False) -> None:
        self.clone = clone
        self.details = tuple(details)
        self.managed = managed
        if managed:
            hint = "inspect the clone by hand (git status), clean it up, then retry"
        else:
            hint = (
                "the bot did not create this clone (the repository setting names a local work "
                "tree, maybe someone's), so it never deletes files in it; after an interrupted "
                "run they may be half-written checkout files. Inspect it by hand (git status), "
                "clean it up, then retry; or set the repository to the remote's URL so the bot "
                "keeps a clone of its own, which it cleans by itself"
            )
        super().__init__(
            f"the clone at {clone} is not clean: {', '.join(self.details) or 'unknown state'}",
            hint=hint,
        )


class DivergedBranchError(RepositoryStateError):
    """A local branch has commits the remote branch does not have."""

    def __init__(self, branch: str, local_sha: str, remote_sha: str) -> None:
        self.branch = branch
        self.local_sha = local_sha
        self.remote_sha = remote_sha
        super().__init__(
            f"local branch {branch} ({local_sha[:10]}) has commits that the remote "
            f"branch ({remote_sha[:10]}) does not have",
            hint=(
                f"push or drop those commits in the bot's clone (git log "
                f"{remote_sha[:10]}..{branch}), then retry"
            ),
        )


class UnreleasedCommitsError(RepositoryStateError):
    """The hotfix branch carries development commits that production does not have.

    Finishing would release them (the classic cause: merging develop into the
    hotfix branch to resolve a back-merge conflict). ``commits`` are
    ``(sha, subject)`` pairs, oldest first; ``fixes`` the branch's other
    non-merge commits, i.e. what to cherry-pick onto a clean branch.
    """

    SHOWN = 5
    SHOWN_FIXES = 10

    def __init__(
        self,
        *,
        branch: str,
        development: str,
        production: str,
        commits: Sequence[tuple[str, str]],
        fixes: Sequence[str],
        base: str,
        remote: str,
    ) -> None:
        self.branch = branch
        self.development = development
        self.commits = tuple(commits)
        self.fixes = tuple(fixes)
        listed = "; ".join(
            f"{sha[:10]} {one_line(subject)}" for sha, subject in commits[: self.SHOWN]
        )
        if len(commits) > self.SHOWN:
            listed += f" (and {len(commits) - self.SHOWN} more)"
        picks = " ".join(sha[:10] for sha in fixes[: self.SHOWN_FIXES]) or "<your fix commits>"
        if len(fixes) > self.SHOWN_FIXES:
            picks += f" … ({len(fixes)} commits: git log --no-merges {base}..{remote}/{branch})"
        super().__init__(
            f"{branch} carries {len(commits)} commit{'s' if len(commits) != 1 else ''} of "
            f"{development} that {production} does not have: {listed}. Finishing would release "
            f"them to {production}, so nothing was pushed",
            hint=(
                f"rebuild {branch} with only the fix: git switch -C {branch} {base} && "
                f"git cherry-pick {picks} && git push --force-with-lease {remote} {branch}; "
                f"then finish again. A conflict with {development} is resolved on a branch off "
                f"{development} that merges {branch}, never by merging {development} into {branch}"
            ),
        )


def one_line(text: str, limit: int = 80) -> str:
    """``text`` (a commit subject, say) as one short, plain line for a message.

    Control and format characters (newlines, bidi overrides, zero-width marks)
    are dropped so a subject cannot break or reorder the sentence around it.
    """
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    flat = " ".join(kept.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class HotfixExistsError(HotfixError):
    """A hotfix branch for this issue already exists."""

    def __init__(self, issue_key: str, branch: str, where: str) -> None:
        self.issue_key = issue_key
        self.branch = branch
        self.where = where
        super().__init__(
            f"a hotfix branch for {issue_key} already exists {where}: {branch}",
            hint=f"keep working on {branch}, or finish or delete it first",
        )


class OtherHotfixOpenError(HotfixError):
    """git-flow allows one hotfix at a time and another one is open."""

    def __init__(self, branches: Sequence[str]) -> None:
        self.branches = tuple(branches)
        super().__init__(
            f"there is an existing hotfix branch ({', '.join(self.branches)}); "
            "git-flow allows only one hotfix at a time",
            hint="finish that one first (or delete it if it was abandoned)",
        )


class NoHotfixError(HotfixError):
    """No open hotfix branch matches."""

    def __init__(self, issue_key: str | None) -> None:
        self.issue_key = issue_key
        what = f"for {issue_key}" if issue_key else "at all"
        super().__init__(
            f"no open hotfix branch {what}",
            hint="start one with the create command, or check the issue key",
        )


class AlreadyFinishedError(HotfixError):
    """The issue's hotfix was finished already: a release tag resolving it is on production."""

    def __init__(self, issue_key: str, tag: str) -> None:
        self.issue_key = issue_key
        self.tag = tag
        super().__init__(
            f"the hotfix for {issue_key} is already finished: {tag} is on production",
            hint="nothing to do; deploy that version",
        )


class AmbiguousHotfixError(HotfixError):
    """Several hotfix branches are open and none was named."""

    def __init__(self, branches: Sequence[str]) -> None:
        self.branches = tuple(branches)
        super().__init__(
            f"several hotfix branches are open: {', '.join(self.branches)}",
            hint="name the issue key of the hotfix to finish",
        )


class EmptyHotfixError(HotfixError):
    """The hotfix branch has no commits that production lacks."""

    def __init__(self, branch: str, production: str) -> None:
        self.branch = branch
        self.production = production
        super().__init__(
            f"hotfix branch {branch} has no commits that {production} does not already have",
            hint=f"push the fix to {branch} first",
        )


class GitConflictError(HotfixError, ConflictError):
    """Applying the hotfix to ``branch`` conflicted in ``files``; nothing was pushed."""

    def __init__(self, message: str, *, files: Sequence[str], branch: str, hint: str) -> None:
        self.files = tuple(files)
        self.branch = branch
        super().__init__(message, hint=hint)


def _file_list(files: Sequence[str], shown: int = 10) -> str:
    """A few of ``files``, one plain line each, and how many more (the answer must fit Slack)."""
    if not files:
        return "(no file reported)"
    listed = ", ".join(one_line(name, 120) for name in files[:shown])
    return listed + (f" (and {len(files) - shown} more)" if len(files) > shown else "")


class MergeConflictError(GitConflictError):
    """``git merge --no-ff <source>`` into ``branch`` (production) conflicted.

    Bringing production into the hotfix branch is safe: production's commits
    are released already.
    """

    def __init__(
        self, *, files: Sequence[str], branch: str, source: str, hint: str | None = None
    ) -> None:
        self.source = source
        listed = _file_list(files)
        super().__init__(
            f"merging {source} into {branch} conflicts in: {listed}",
            files=files,
            branch=branch,
            hint=hint
            or (
                f"merge {branch} into {source} (or rebase {source} onto {branch}), "
                f"resolve the conflicts, push {source}, then finish again; "
                "nothing was pushed"
            ),
        )


class BackMergeConflictError(MergeConflictError):
    """The back-merge of the hotfix branch into the development branch conflicted.

    The conflict must be resolved on the development side: merging develop
    into the hotfix branch would release develop's unreleased commits (and
    finish refuses such a branch). Once develop contains the hotfix branch,
    finish merges it into production only.
    """

    def __init__(
        self, *, files: Sequence[str], branch: str, source: str, production: str, remote: str
    ) -> None:
        self.production = production
        side = f"merge/{source}"
        super().__init__(
            files=files,
            branch=branch,
            source=source,
            hint=(
                f"nothing was pushed. Do not merge {branch} into {source}: {production} would "
                f"get {branch}'s unreleased work. Resolve it on {branch}'s side: "
                f"git switch -c {side} {remote}/{branch} && git merge --no-ff {source}, "
                f"resolve, commit, push {side} and merge it into {branch} with a merge commit "
                f"(not squash or rebase). Then finish again: {branch} has the hotfix, so the bot "
                f"merges it into {production}, tags it, and leaves {branch} as it is"
            ),
        )


class CherryPickConflictError(GitConflictError):
    """``git cherry-pick -x <commit>`` onto ``branch`` conflicted."""

    def __init__(self, *, files: Sequence[str], branch: str, commit: str) -> None:
        self.commit = commit
        listed = _file_list(files)
        super().__init__(
            f"cherry-picking {commit[:10]} onto {branch} conflicts in: {listed}",
            files=files,
            branch=branch,
            hint=(
                f"port the fix to {branch} by hand (git cherry-pick -x {commit[:10]}, resolve, "
                f"commit, push {branch}; keep the -x line, it is how the bot knows), "
                "or make the hotfix apply cleanly, then finish again; nothing was pushed"
            ),
        )


class TagExistsError(HotfixError):
    """The version tag to create exists already."""

    def __init__(self, tag: str, where: str, sha: str | None) -> None:
        self.tag = tag
        self.where = where
        self.sha = sha
        at = f" at {sha[:10]}" if sha else ""
        super().__init__(
            f"tag {tag} already exists {where}{at}",
            hint="finish with an explicit, unused version (or delete the stray tag)",
        )


@dataclass(frozen=True, slots=True)
class RejectedRef:
    """One ref the remote (or git, before sending) refused, and why."""

    ref: str
    reason: str


class PushRejectedError(HotfixError):
    """The remote refused the push; with ``--atomic`` nothing changed there."""

    def __init__(
        self,
        rejected: Iterable[RejectedRef],
        *,
        remote_messages: Iterable[str] = (),
        message: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.rejected = tuple(RejectedRef(r.ref, scrub(r.reason)) for r in rejected)
        self.remote_messages = tuple(scrub(m) for m in remote_messages)
        if message is None:
            refs = "; ".join(f"{r.ref}: {r.reason}" for r in self.rejected) or "unknown refs"
            message = f"the remote rejected the push ({refs})"
            if self.remote_messages:
                message += ". Remote said: " + " / ".join(self.remote_messages)
        if hint is None:
            hint = (
                "nothing was changed on the remote; fix what the remote objects to "
                "(branch protection, hooks, permissions), then finish again"
            )
        super().__init__(message, hint=hint)


class NonFastForwardError(PushRejectedError):
    """A branch cannot be fast-forwarded.

    Raised when the remote moved since the fetch (detected before the push, or
    reported by the push) and, in the trunk model, when production moved past
    the hotfix branch's base. ``rejected`` is empty when nothing was pushed.
    """

    def __init__(
        self,
        *,
        branch: str,
        message: str,
        hint: str,
        expected_sha: str | None = None,
        actual_sha: str | None = None,
        rejected: Iterable[RejectedRef] = (),
        remote_messages: Iterable[str] = (),
        retryable: bool = False,
    ) -> None:
        self.branch = branch
        self.expected_sha = expected_sha
        self.actual_sha = actual_sha
        self.retryable = retryable
        super().__init__(
            rejected,
            remote_messages=remote_messages,
            message=message,
            hint=hint,
        )


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a repository's lock (as recorded by the holder)."""

    operation: str
    issue_key: str | None
    actor: str | None
    pid: int | None
    since: str | None


class RepositoryBusyError(HotfixError, TemporaryError):
    """Another operation on the same repository is in progress."""

    def __init__(self, clone: str, holder: LockHolder | None) -> None:
        self.clone = clone
        self.holder = holder
        if holder is None:
            what = "another hotfix operation is in progress"
        else:
            subject = f"{holder.issue_key} " if holder.issue_key else ""
            by = holder.actor or (f"pid {holder.pid}" if holder.pid else "someone")
            what = f"{subject}{holder.operation} in progress by {by}"
        super().__init__(f"busy: {what}", hint="try again in a moment")


class GitCommandError(HotfixError, TemporaryError):
    """A git command failed unexpectedly (scrubbed copy of GitPython's error)."""

    def __init__(self, command: Sequence[str], status: int | None, stderr: str) -> None:
        self.command = tuple(scrub(a) for a in command)
        self.status = status
        self.stderr = scrub(stderr.strip())
        shown = " ".join(self.command)
        detail = f": {self.stderr}" if self.stderr else ""
        super().__init__(
            f"git command failed ({shown}, exit {status}){detail}",
            hint="check the repository and the remote are reachable, then retry",
        )
