"""One operation per repository at a time: threads and processes get 'busy' at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.git import (
    HotfixFinished,
    RepositoryBusyError,
    create_hotfix,
    finish_hotfix,
    hotfix_status,
)
from services.git.locking import LOCK_FILE_NAME
from tests.harness.git_repos import GitWorld

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("isolated_git")]


def wait_for(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.01)


def test_concurrent_finish_gets_busy_immediately(world: GitWorld, tmp_path: Path) -> None:
    create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-2847")
    world.fix_on_hotfix("hotfix/PROD-2847")
    started, release = tmp_path / "push-started", tmp_path / "push-release"
    # the first finish pauses inside `git push` until we let it go
    world.install_bot_hook(
        "pre-push",
        f"""\
        cat > /dev/null
        touch "{started}"
        i=0
        while [ ! -e "{release}" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
        exit 0
        """,
    )
    results: list[HotfixFinished | BaseException] = []

    def first() -> None:
        try:
            results.append(
                finish_hotfix(
                    settings=world.settings(), clone=world.bot, issue_key="PROD-2847", actor="alice"
                )
            )
        except BaseException as exc:
            results.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        wait_for(started)
        remote_mid = world.remote_refs()
        began = time.monotonic()
        with pytest.raises(RepositoryBusyError) as info:
            finish_hotfix(settings=world.settings(), clone=world.bot, actor="bob")
        assert time.monotonic() - began < 1.0  # no waiting
        assert info.value.message == "busy: PROD-2847 hotfix finish in progress by alice"
        assert "try again" in info.value.hint
        assert info.value.retryable
        with pytest.raises(RepositoryBusyError):
            create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-9")
        with pytest.raises(RepositoryBusyError):
            hotfix_status(settings=world.settings(), clone=world.bot)
        assert world.remote_refs() == remote_mid  # the losers touched nothing
    finally:
        release.touch()
        thread.join(timeout=30)
    assert len(results) == 1 and isinstance(results[0], HotfixFinished), results
    assert "refs/tags/v2.1.1" in world.remote_refs()
    world.assert_bot_clean()
    # the lock is free again
    assert hotfix_status(settings=world.settings(), clone=world.bot) == []


def test_another_process_holding_the_lock(world: GitWorld) -> None:
    lock_file = world.bot / ".git" / LOCK_FILE_NAME
    holder = {"operation": "hotfix finish", "issue_key": "PROD-7", "actor": "carol", "pid": 4242}
    script = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(lock_file)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.ftruncate(fd, 0)\n"
        f"os.write(fd, {json.dumps(holder).encode()!r})\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RepositoryBusyError) as info:
            create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-8")
        assert info.value.message == "busy: PROD-7 hotfix finish in progress by carol"
        assert info.value.holder is not None and info.value.holder.pid == 4242
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    created = create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-8")
    assert created.branch == "hotfix/PROD-8"
