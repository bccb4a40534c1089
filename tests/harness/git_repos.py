"""Real git repositories for the hotfix tests.

A world is a bare repository acting as ``origin``, a developer's clone that
makes real commits and pushes, and the bot's own clone. Production carries
release tags (``v2.0.0``, ``v2.1.0``) plus tags that must be ignored
(a pre-release and non-semver names); the development branch (``develop``
for git-flow, ``main`` for trunk) is a few commits ahead.

Worlds are built once per model and copied per test (with the clones'
remote URLs rewritten), which keeps the suite fast.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.git import RepositorySettings

APP_PY = textwrap.dedent(
    """\
    def greet(name):
        return "Hello, " + name


    def status():
        return "ok"


    def version():
        return "2.1.0"
    """
)

DEV_NAME = "Dana Developer"
DEV_EMAIL = "dana@example.com"


def isolate_git_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No user/system git config, no inherited GIT_* repository variables."""
    (home / "git-template").mkdir(parents=True, exist_ok=True)  # no sample hooks
    config = home / ".gitconfig"
    if not config.exists():
        config.write_text(
            "[user]\n"
            f"\tname = {DEV_NAME}\n"
            f"\temail = {DEV_EMAIL}\n"
            "[init]\n\tdefaultBranch = main\n"
            f"\ttemplateDir = {home / 'git-template'}\n"
            "[advice]\n\tdetachedHead = false\n"
        )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in (
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_OBJECT_DIRECTORY",
    ):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str, check: bool = True, input: str | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"git {' '.join(args)} failed in {cwd} ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout.strip()


def write_hook(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@dataclass
class GitWorld:
    root: Path
    origin: Path
    dev: Path
    bot: Path
    model: str

    @property
    def production(self) -> str:
        return "production"

    @property
    def development(self) -> str:
        return "develop" if self.model == "gitflow" else "main"

    def settings(self, **overrides: object) -> RepositorySettings:
        values: dict[str, object] = {
            "repository": str(self.bot),
            "branch_model": self.model,
            "issue_url_template": "https://tracker.example.com/browse/{key}",
        }
        values.update(overrides)
        return RepositorySettings.model_validate(values)

    # -------------------------------------------------------------- inspection

    def remote_refs(self) -> dict[str, str]:
        """Every ref of origin (tags as tag objects) -> sha."""
        out = git(self.origin, "for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def bot_refs(self) -> dict[str, str]:
        out = git(
            self.bot, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"
        )
        refs = dict(line.split(" ", 1) for line in out.splitlines() if line)
        refs["HEAD"] = git(self.bot, "symbolic-ref", "-q", "HEAD", check=False) or git(
            self.bot, "rev-parse", "HEAD"
        )
        return refs

    def assert_bot_clean(self) -> None:
        assert git(self.bot, "status", "--porcelain") == ""
        git_dir = self.bot / ".git"
        for marker in ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge"):
            assert not (git_dir / marker).exists(), marker

    def bot_fetch(self) -> None:
        git(self.bot, "fetch", "--quiet", "--prune", "--tags", "origin")

    def rev(self, repo: Path, rev: str) -> str:
        return git(repo, "rev-parse", "--verify", rev)

    def parents(self, repo: Path, rev: str) -> list[str]:
        return git(repo, "rev-list", "--parents", "-n", "1", rev).split()[1:]

    def message(self, repo: Path, rev: str) -> str:
        return git(repo, "log", "-1", "--format=%B", rev)

    # --------------------------------------------------------- developer side

    def commit(
        self,
        branch: str,
        files: dict[str, str],
        message: str,
        *,
        push: bool = True,
    ) -> str:
        """Commit ``files`` on ``branch`` in the developer clone (and push it)."""
        git(self.dev, "fetch", "--quiet", "--prune", "origin")
        if git(self.dev, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False):
            git(self.dev, "switch", "--quiet", branch)
            if git(
                self.dev,
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/remotes/origin/{branch}",
                check=False,
            ):
                git(self.dev, "merge", "--quiet", "--ff-only", f"origin/{branch}")
        else:
            git(self.dev, "switch", "--quiet", "--track", f"origin/{branch}")
        for name, content in files.items():
            path = self.dev / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            git(self.dev, "add", "--", name)
        git(self.dev, "commit", "--quiet", "-m", message)
        if push:
            git(self.dev, "push", "--quiet", "origin", f"{branch}:{branch}")
        return self.rev(self.dev, "HEAD")

    def fix_on_hotfix(self, branch: str, *, line: str = 'return "Hello, " + name.strip()') -> str:
        """A typical fix: change greet() on the hotfix branch and push it."""
        content = APP_PY.replace('return "Hello, " + name', line)
        return self.commit(branch, {"app.py": content}, "Fix greeting for padded names")

    def install_update_hook(self, rejected_ref: str, message: str) -> None:
        write_hook(
            self.origin / "hooks" / "update",
            f"""\
            if [ "$1" = "{rejected_ref}" ]; then
                echo "{message}"
                exit 1
            fi
            exit 0
            """,
        )

    def install_bot_hook(self, name: str, body: str) -> None:
        write_hook(self.bot / ".git" / "hooks" / name, body)


def _build_template(path: Path, model: str) -> None:
    origin = path / "origin.git"
    dev = path / "dev"
    bot = path / "bot"
    development = "develop" if model == "gitflow" else "main"
    git(path, "init", "--quiet", "--bare", "--initial-branch=production", str(origin))
    git(path, "clone", "--quiet", str(origin), str(dev))
    git(dev, "switch", "--quiet", "--orphan", "production")

    def commit(files: dict[str, str], message: str) -> None:
        for name, content in files.items():
            (dev / name).write_text(content)
            git(dev, "add", "--", name)
        git(dev, "commit", "--quiet", "-m", message)

    commit(
        {"app.py": APP_PY.replace("2.1.0", "2.0.0"), "README.md": "# service\n"}, "Initial release"
    )
    git(dev, "tag", "--annotate", "-m", "Release 2.0.0", "v2.0.0")
    commit({"login.py": "def login():\n    return True\n"}, "Add login")
    commit({"app.py": APP_PY, "CHANGELOG.md": "2.1.0\n"}, "Release 2.1.0")
    git(dev, "tag", "--annotate", "-m", "Release 2.1.0", "v2.1.0")
    git(dev, "tag", "v3.0.0-rc.1")  # pre-release on production: ignored
    git(dev, "tag", "v2.1")  # not semver: ignored
    git(dev, "tag", "release-2019")  # no prefix: ignored
    git(dev, "switch", "--quiet", "-c", development)
    commit({"feature.py": "def feature():\n    return 1\n"}, "Add feature")
    commit({"README.md": "# service\n\nNow with features.\n"}, "Document feature")
    git(dev, "tag", "--annotate", "-m", "rc", "v2.2.0-rc.1")  # only on development
    git(dev, "push", "--quiet", "origin", "production", development, "--tags")
    git(dev, "branch", "--quiet", "--set-upstream-to", "origin/" + development)
    git(dev, "switch", "--quiet", "production")
    git(dev, "branch", "--quiet", "--set-upstream-to", "origin/production")
    git(path, "clone", "--quiet", str(origin), str(bot))
    for repo in (origin, dev, bot):  # one pack file instead of loose objects: faster copies
        git(repo, "repack", "-adq")
        git(repo, "pack-refs", "--all")


_TEMPLATES: dict[tuple[str, str], Path] = {}


def make_world(dest: Path, *, model: str = "gitflow", cache_dir: Path) -> GitWorld:
    """A fresh copy of the ``model`` world in ``dest``."""
    key = (str(cache_dir), model)
    template = _TEMPLATES.get(key)
    if template is None or not template.exists():
        template = cache_dir / f"template-{model}"
        if template.exists():
            shutil.rmtree(template)
        template.mkdir(parents=True)
        _build_template(template, model)
        _TEMPLATES[key] = template
    shutil.copytree(template, dest, symlinks=True)
    world = GitWorld(
        root=dest, origin=dest / "origin.git", dev=dest / "dev", bot=dest / "bot", model=model
    )
    for clone in (world.dev, world.bot):
        git(clone, "remote", "set-url", "origin", str(world.origin))
    return world


# -- fixtures (registered by tests/conftest.py) -----------------------------------


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    isolate_git_env(monkeypatch, tmp_path_factory.getbasetemp() / "home")


@pytest.fixture
def world(isolated_git: None, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> GitWorld:
    """A git-flow repository world: bare origin, developer clone, bot clone."""
    return make_world(tmp_path / "w", model="gitflow", cache_dir=tmp_path_factory.getbasetemp())


@pytest.fixture
def trunk(isolated_git: None, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> GitWorld:
    """The same for the trunk model (main instead of develop)."""
    return make_world(tmp_path / "t", model="trunk", cache_dir=tmp_path_factory.getbasetemp())
