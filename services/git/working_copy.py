"""The only module that talks to git (through services.git.process, which runs it).

Every command is an argv list run with the minimal environment of services.children, never
through a shell. Nothing here forces anything: no ``--force``, no
``--force-with-lease``, no ``+`` refspecs. Failures become
:class:`~services.git.errors.GitCommandError` with credentials scrubbed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import git
from git.exc import GitError

from services.children import run_child

from .errors import GitCommandError, RejectedRef, RepositoryStateError, scrub
from .process import Result, execute, git_env, rejected_refs, remote_messages
from .results import CommitInfo

_IN_PROGRESS_MARKERS = {
    "MERGE_HEAD": "merge",
    "CHERRY_PICK_HEAD": "cherry-pick",
    "REVERT_HEAD": "revert",
    "rebase-merge": "rebase",
    "rebase-apply": "rebase/am",
    "BISECT_LOG": "bisect",
}

# How to abandon each operation a crash may leave in progress (tried in order).
_ABORT: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "merge": (("merge", "--abort"),),
    "cherry-pick": (("cherry-pick", "--abort"),),
    "revert": (("revert", "--abort"),),
    "rebase": (("rebase", "--abort"),),
    "rebase/am": (("rebase", "--abort"), ("am", "--abort")),
    "bisect": (("bisect", "reset"),),
}

LS_REMOTE_SECONDS = 20
# In the git directory of a clone the bot made itself (see clone.prepare_clone).
MANAGED_MARKER = "hotfix-bot-managed"


@dataclass(frozen=True, slots=True)
class HeadState:
    branch: str | None  # short branch name, None when detached
    sha: str | None


@dataclass(frozen=True, slots=True)
class LocalState:
    """HEAD plus every local branch and tag: enough to put a clone back."""

    head: HeadState
    branches: Mapping[str, str]  # "refs/heads/x" -> sha
    tags: Mapping[str, str]  # "refs/tags/x" -> object sha


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """Result of a merge or a cherry-pick attempt."""

    ok: bool
    conflicts: tuple[str, ...] = ()
    empty: bool = False


@dataclass(frozen=True, slots=True)
class PushOutcome:
    ok: bool
    rejected: tuple[RejectedRef, ...] = ()
    remote_messages: tuple[str, ...] = ()
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    email: str


@dataclass(slots=True)
class GitRepository:
    """A non-bare clone, driven by argv-list git commands."""

    path: Path
    identity: Identity
    _repo: git.Repo = field(repr=False)

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: Path, *, identity: Identity) -> GitRepository:
        try:
            repo = git.Repo(str(path))
        except (GitError, OSError) as exc:
            raise RepositoryStateError(
                f"{path} is not a git repository ({type(exc).__name__})",
                hint="check the repository setting, or let the bot clone it",
            ) from None
        if repo.bare or repo.working_tree_dir is None:
            raise RepositoryStateError(
                f"{path} is a bare repository; the bot needs a clone with a working tree",
                hint="configure the bare repository as a remote URL instead",
            )
        return cls(path=Path(repo.working_tree_dir), identity=identity, _repo=repo)

    @staticmethod
    def toplevel(path: Path) -> Path | None:
        """The work tree's top directory if ``path`` is one, else None."""
        cmd = ["git", "rev-parse", "--show-toplevel"]
        try:
            status, out, _ = execute(cmd, cwd=path, env=git_env({}))
        except OSError:
            return None
        if status != 0 or not out.strip():
            return None
        top = Path(out.strip()).resolve()
        return top if top == path.resolve() else None

    @staticmethod
    def is_bare(path: Path) -> bool:
        """Is ``path`` itself a bare repository (something ``git clone`` can clone)?"""
        cmd = ["git", "rev-parse", "--is-bare-repository", "--absolute-git-dir"]
        try:
            status, out, _ = execute(cmd, cwd=path, env=git_env({}))
        except OSError:
            return False
        lines = out.split()
        if status != 0 or len(lines) != 2 or lines[0] != "true":
            return False
        return Path(lines[1]).resolve() == path.resolve()

    @staticmethod
    def clone(source: str, destination: Path, *, remote: str) -> None:
        cmd = ["git", "clone", "--quiet", "--origin", remote, "--", source, str(destination)]
        try:
            status, _, err = execute(cmd, cwd=destination.parent, env=git_env({}))
        except OSError as exc:
            raise GitCommandError(cmd, None, str(exc)) from None
        if status != 0:
            raise GitCommandError(cmd, status, err)

    @staticmethod
    def remote_tags(source: str, *, cwd: Path) -> list[str]:
        """The tag names on a remote (URL, path, or a remote's name when ``cwd`` is a clone),
        read with ``ls-remote``: nothing fetched, no clone touched."""
        cmd = ["git", "ls-remote", "--quiet", "--tags", "--refs", "--", source]
        refs = (line.partition("\t")[2] for line in _ls_remote(cmd, cwd).splitlines())
        return [ref.removeprefix("refs/tags/") for ref in refs if ref.startswith("refs/tags/")]

    @staticmethod
    def remote_tag_commit(source: str, tag: str, *, cwd: Path) -> str | None:
        """The commit a tag on a remote points at (peeled through an annotated tag), read
        with ``ls-remote`` like `remote_tags`; None when the remote has no such tag."""
        ref = f"refs/tags/{tag}"
        cmd = ["git", "ls-remote", "--quiet", "--tags", "--", source, ref, ref + "^{}"]
        found: dict[str, str] = {}
        for line in _ls_remote(cmd, cwd).splitlines():
            sha, _, name = line.partition("\t")
            found[name] = sha
        return found.get(ref + "^{}") or found.get(ref)

    def close(self) -> None:
        self._repo.close()

    @property
    def git_dir(self) -> Path:
        return Path(self._repo.git_dir)

    @property
    def managed(self) -> bool:
        """Whether the bot made this clone itself (so nobody else's files can be in it)."""
        return (self.git_dir / MANAGED_MARKER).is_file()

    def mark_managed(self) -> None:
        marker = self.git_dir / MANAGED_MARKER
        if not marker.is_file():
            marker.write_text(
                "This clone belongs to hotfix-bot. After a crash the bot resets it and deletes"
                " untracked files (git reset --hard; git clean -ffdx).\n"
            )

    # ----------------------------------------------------------------- running

    def _env(self, *, author: bool = False) -> dict[str, str]:
        env: dict[str, str] = {}
        env["GIT_COMMITTER_NAME"] = self.identity.name
        env["GIT_COMMITTER_EMAIL"] = self.identity.email
        if author:
            env["GIT_AUTHOR_NAME"] = self.identity.name
            env["GIT_AUTHOR_EMAIL"] = self.identity.email
        return git_env(env)

    def run(self, *args: str, check: bool = True, author: bool = False) -> Result:
        cmd = ["git", *args]
        try:
            status, out, err = execute(cmd, cwd=self.path, env=self._env(author=author))
        except OSError as exc:
            raise GitCommandError(cmd, None, str(exc)) from None
        result = Result(status=status, stdout=out, stderr=err)
        if check and status != 0:
            raise GitCommandError(cmd, status, err)
        return result

    def _lines(self, *args: str) -> list[str]:
        return [line for line in self.run(*args).stdout.splitlines() if line]

    # ------------------------------------------------------------------ state

    def in_progress(self) -> list[str]:
        return [
            name
            for marker, name in _IN_PROGRESS_MARKERS.items()
            if (self.git_dir / marker).exists()
        ]

    def status_porcelain(self, *, ignored: bool = False) -> list[str]:
        args = ["status", "--porcelain=v1", "-z", "--untracked-files=normal"]
        out = self.run(*args, *(["--ignored"] if ignored else [])).stdout
        return [entry for entry in out.split("\0") if entry]

    def head(self) -> HeadState:
        symbolic = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        branch = symbolic.stdout.strip() if symbolic.status == 0 else None
        return HeadState(branch=branch, sha=self.rev_parse("HEAD"))

    def refs(self, *prefixes: str) -> dict[str, str]:
        out = self._lines("for-each-ref", "--format=%(objectname) %(refname)", *prefixes)
        return {ref: sha for sha, ref in (line.split(" ", 1) for line in out)}

    def local_state(self) -> LocalState:
        return LocalState(
            head=self.head(), branches=self.refs("refs/heads/"), tags=self.refs("refs/tags/")
        )

    def rev_parse(self, rev: str) -> str | None:
        """The commit ``rev`` names (tags are peeled), or None."""
        result = self.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False
        )
        return result.stdout.strip() if result.status == 0 else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        result = self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        if result.status not in (0, 1):
            raise GitCommandError(
                ["git", "merge-base", "--is-ancestor", ancestor, descendant],
                result.status,
                result.stderr,
            )
        return result.status == 0

    def merge_base(self, a: str, b: str) -> str | None:
        result = self.run("merge-base", a, b, check=False)
        return result.stdout.strip() if result.status == 0 else None

    def rev_list(self, *args: str) -> list[str]:
        return self._lines("rev-list", *args)

    def count(self, exclude: str, include: str) -> int:
        return int(self.run("rev-list", "--count", include, f"^{exclude}").stdout.strip())

    def parents(self, sha: str) -> list[str]:
        line = self.run("rev-list", "--parents", "-n", "1", sha).stdout.split()
        return line[1:]

    def commit_info(self, sha: str) -> CommitInfo:
        out = self.run("log", "-1", "--format=%H%x00%an%x00%ae%x00%aI%x00%s", sha).stdout.rstrip(
            "\n"
        )
        full, name, email, date, subject = out.split("\0", 4)
        return CommitInfo(
            sha=full,
            subject=subject,
            author_name=name,
            author_email=email,
            authored_at=datetime.fromisoformat(date),
        )

    def subjects(self, *revs: str) -> dict[str, str]:
        """sha -> subject line of every commit ``git log <revs>`` lists (one git call)."""
        out = self.run("log", "--format=%H%x00%s", *revs).stdout
        return dict(line.split("\0", 1) for line in out.splitlines() if "\0" in line)

    def tags_merged_into(self, sha: str) -> list[str]:
        return self._lines(
            "for-each-ref", f"--merged={sha}", "--format=%(refname:strip=2)", "refs/tags/"
        )

    def tags_containing(self, sha: str, *, merged_into: str) -> list[str]:
        return self._lines(
            "for-each-ref",
            f"--contains={sha}",
            f"--merged={merged_into}",
            "--format=%(refname:strip=2)",
            "refs/tags/",
        )

    def tag_message(self, name: str) -> str:
        return self.run("for-each-ref", "--format=%(contents)", f"refs/tags/{name}").stdout

    def unmerged_files(self) -> list[str]:
        out = self.run("diff", "--name-only", "--diff-filter=U", "-z").stdout
        return sorted({entry for entry in out.split("\0") if entry})

    def upstream_gone_branches(self, prefix: str) -> list[str]:
        """Local branches under ``prefix`` whose configured upstream no longer exists."""
        out = self._lines(
            "for-each-ref",
            "--format=%(refname:strip=2)%00%(upstream:track)",
            f"refs/heads/{prefix}",
        )
        return [name for name, track in (line.split("\0", 1) for line in out) if track == "[gone]"]

    def remote_url(self, remote: str) -> str | None:
        result = self.run("remote", "get-url", "--", remote, check=False)
        return result.stdout.strip() if result.status == 0 else None

    # ---------------------------------------------------------------- remote

    def fetch(self, remote: str) -> None:
        self.run("fetch", "--quiet", "--prune", "--tags", "--no-recurse-submodules", remote)

    def ls_remote(self, remote: str) -> dict[str, str]:
        """Every ref on the remote (tags as tag objects, no peeled entries)."""
        refs: dict[str, str] = {}
        for line in self._lines("ls-remote", "--quiet", remote):
            sha, ref = line.split("\t", 1)
            if ref.startswith("refs/") and not ref.endswith("^{}"):
                refs[ref] = sha
        return refs

    def push(
        self,
        remote: str,
        refspecs: Sequence[str],
        *,
        atomic: bool = False,
        set_upstream: bool = False,
    ) -> PushOutcome:
        args = ["push", "--porcelain"]
        if atomic:
            args.append("--atomic")
        if set_upstream:
            args.append("--set-upstream")
        for spec in refspecs:
            if spec.lstrip(":").startswith("-") or spec.startswith("+"):
                raise ValueError(f"refusing refspec {spec!r}")
        result = self.run(*args, remote, *refspecs, check=False)
        rejected = rejected_refs(result.stdout)
        messages = remote_messages(result.stderr)
        ok = result.status == 0 and not rejected
        if not ok and not rejected and not messages:
            raise GitCommandError(["git", *args, remote, *refspecs], result.status, result.stderr)
        return PushOutcome(
            ok=ok,
            rejected=tuple(rejected),
            remote_messages=tuple(scrub(m) for m in messages),
            stderr=scrub(result.stderr),
        )

    # ---------------------------------------------------------- local changes

    def switch(self, branch: str) -> None:
        self.run("switch", "--quiet", "--no-guess", branch)

    def detach(self, sha: str | None = None) -> None:
        self.run("switch", "--quiet", "--detach", *([sha] if sha else []))

    def create_branch(self, name: str, start: str, *, track: bool = False) -> None:
        self.run("branch", "--track" if track else "--no-track", name, start)

    def delete_branch(self, name: str) -> None:
        self.run("branch", "--quiet", "-D", name)

    def update_ref(self, ref: str, new: str, old: str | None) -> None:
        self.run("update-ref", "-m", "hotfix-bot", ref, new, old or "0" * 40)

    def delete_tag(self, name: str) -> None:
        self.run("tag", "--delete", name)

    def reset_hard(self) -> None:
        self.run("reset", "--quiet", "--hard")

    def discard_everything(self) -> None:
        """Abort what is in progress, reset index and work tree to HEAD, delete every other file.

        Only for a clone the bot made itself: untracked and ignored files go too
        (``clean -ffdx``; the second ``f`` also removes nested repositories).
        """
        for name in self.in_progress():
            for args in _ABORT[name]:
                if self.run(*args, check=False).status == 0:
                    break
        self.reset_hard()
        self.run("clean", "--quiet", "-ffdx")

    def merge_ff_only(self, rev: str) -> None:
        self.run("merge", "--quiet", "--ff-only", rev)

    def merge_no_ff(self, rev: str, *, message: str) -> ApplyOutcome:
        result = self.run(
            "merge",
            "--quiet",
            "--no-ff",
            "--no-edit",
            "-m",
            message,
            rev,
            check=False,
            author=True,
        )
        if result.status == 0:
            return ApplyOutcome(ok=True)
        if (self.git_dir / "MERGE_HEAD").exists():
            return ApplyOutcome(ok=False, conflicts=tuple(self.unmerged_files()))
        raise GitCommandError(
            ["git", "merge", "--no-ff", rev], result.status, result.stderr + result.stdout
        )

    def merge_abort(self) -> None:
        self.run("merge", "--abort")

    def cherry_pick(self, sha: str) -> ApplyOutcome:
        result = self.run("cherry-pick", "-x", sha, check=False)
        if result.status == 0:
            return ApplyOutcome(ok=True)
        if (self.git_dir / "CHERRY_PICK_HEAD").exists():
            conflicts = self.unmerged_files()
            if conflicts:
                return ApplyOutcome(ok=False, conflicts=tuple(conflicts))
            if not self.status_porcelain():
                return ApplyOutcome(ok=False, empty=True)
        raise GitCommandError(
            ["git", "cherry-pick", "-x", sha], result.status, result.stderr + result.stdout
        )

    def cherry_pick_abort(self) -> None:
        self.run("cherry-pick", "--abort")

    def cherry_pick_skip(self) -> None:
        self.run("cherry-pick", "--skip")

    def tag_annotated(self, name: str, target: str, *, message: str) -> str:
        self.run("tag", "--annotate", "--no-sign", "--message", message, name, target)
        return self.run("rev-parse", "--verify", f"refs/tags/{name}").stdout.strip()


def _ls_remote(cmd: list[str], cwd: Path) -> str:
    """What ``git ls-remote`` printed; bounded, since a deploy request waits for it."""
    try:
        done = run_child(cmd, env=git_env({}), cwd=cwd, timeout=LS_REMOTE_SECONDS)
    except OSError as exc:
        raise GitCommandError(cmd, None, str(exc)) from None
    if done.returncode != 0:
        timed_out = f"no answer within {LS_REMOTE_SECONDS} s"
        raise GitCommandError(cmd, done.returncode, done.stderr or timed_out)
    return str(done.stdout)
