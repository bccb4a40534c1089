"""A bot killed in the middle of a finish: the next operation starts from a clean clone.

The kill is real: a finish runs in a child process and the whole process group
(python, git, and git's filter) gets SIGKILL while git is switching the clone
to develop. A smudge filter that blocks on one file of develop stands in for a
large develop: it holds git in the middle of writing the work tree, exactly
where a slow checkout would be, with no timing involved.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.git import (
    DirtyCloneError,
    RepositorySettings,
    create_hotfix,
    finish_hotfix,
    prepare_clone,
)
from tests.harness.git_repos import GitWorld, git

BRANCH = "hotfix/PROD-2847"
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]

FINISH_IN_CHILD = """
import json, sys
from services.git import RepositorySettings, finish_hotfix
settings = RepositorySettings.model_validate(json.loads(sys.argv[1]))
finish_hotfix(settings=settings, clone=sys.argv[2], issue_key="PROD-2847")
"""


def slow_develop(world: GitWorld) -> None:
    """develop gains a file whose checkout goes through the ``slow`` filter."""
    world.commit(
        "develop",
        {".gitattributes": "zz-large.bin filter=slow\n", "zz-large.bin": "a large file\n"},
        "Add a large file",
    )


def hold_checkouts(clone: Path, marker: Path) -> None:
    """The first file through the filter blocks (and says so); later ones pass through."""
    command = f'if [ -e "{marker}" ]; then cat; else touch "{marker}"; exec sleep 600; fi'
    git(clone, "config", "filter.slow.smudge", command)


def kill_finish_mid_checkout(settings: RepositorySettings, clone: Path, marker: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", FINISH_IN_CHILD, settings.model_dump_json(), str(clone)],
        start_new_session=True,  # its own process group: git and the filter die with it
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.communicate()[0]
            assert time.monotonic() < deadline, "git never reached the slow file"
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def untracked(clone: Path) -> list[str]:
    return git(clone, "ls-files", "--others").splitlines()


def test_a_finish_killed_while_git_switches_branches_is_recovered_in_the_bots_own_clone(
    world: GitWorld, tmp_path: Path
) -> None:
    # The bot's own clone: the repository setting is the remote, prepare_clone clones it.
    settings = world.settings(repository=str(world.origin))
    clone = prepare_clone(settings=settings, data_dir=tmp_path / "data")
    assert clone != world.bot
    slow_develop(world)
    marker = tmp_path / "checkout-started"
    hold_checkouts(clone, marker)
    create_hotfix(settings=settings, clone=clone, issue_key="PROD-2847")
    fix = world.fix_on_hotfix(BRANCH)
    before = world.remote_refs()

    kill_finish_mid_checkout(settings, clone, marker)

    # What the kill left: git's index lock, and develop's files half written.
    assert (clone / ".git" / "index.lock").exists()
    assert "feature.py" in untracked(clone)
    assert world.remote_refs() == before

    done = finish_hotfix(settings=settings, clone=clone, issue_key="PROD-2847")

    after = world.remote_refs()
    assert after["refs/heads/production"] == done.production_new_sha
    assert world.parents(world.origin, done.production_new_sha)[1] == fix
    assert "refs/tags/v2.1.1" in after and f"refs/heads/{BRANCH}" not in after
    assert git(clone, "status", "--porcelain", "--ignored") == ""
    assert not (clone / ".git" / "index.lock").exists()


def test_leftovers_without_a_restore_point_are_cleaned_in_the_bots_own_clone(
    world: GitWorld, tmp_path: Path
) -> None:
    """A crash outside a finish's restore point (e.g. tidying after the push) is cleaned too."""
    settings = world.settings(repository=str(world.origin))
    clone = prepare_clone(settings=settings, data_dir=tmp_path / "data")
    (clone / "half-written.py").write_text("def half(")
    (clone / "build").mkdir()
    (clone / "build" / "ignored.o").write_text("x")
    (clone / ".git" / "info").mkdir(exist_ok=True)
    (clone / ".git" / "info" / "exclude").write_text("build/\n")
    (clone / "app.py").write_text("garbage\n")

    created = create_hotfix(settings=settings, clone=clone, issue_key="PROD-2847")

    assert created.branch == BRANCH
    assert git(clone, "status", "--porcelain", "--ignored") == ""


def test_a_working_copy_the_bot_did_not_create_keeps_its_files_and_says_why(
    world: GitWorld, tmp_path: Path
) -> None:
    """repository: a local work tree (maybe someone's). Refs are restored; files are never deleted."""
    settings = world.settings()  # repository: world.bot, used in place
    slow_develop(world)
    marker = tmp_path / "checkout-started"
    hold_checkouts(world.bot, marker)
    create_hotfix(settings=settings, clone=world.bot, issue_key="PROD-2847")
    world.fix_on_hotfix(BRANCH)
    world.bot_fetch()
    refs = world.bot_refs()

    kill_finish_mid_checkout(settings, world.bot, marker)

    with pytest.raises(DirtyCloneError) as info:
        finish_hotfix(settings=settings, clone=world.bot, issue_key="PROD-2847")

    assert world.bot_refs() == refs  # the restore point put the branches back
    assert "feature.py" in untracked(world.bot)  # but nothing in a person's tree is deleted
    assert "did not create" in info.value.hint
    assert "git status" in info.value.hint
