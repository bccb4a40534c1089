"""finish_hotfix under trunk-based "branch for release": fast-forward, tag, cherry-pick -x."""

from __future__ import annotations

import pytest

from services.git import (
    CherryPick,
    CherryPickConflictError,
    NonFastForwardError,
    PushRejectedError,
    RefUpdate,
    RepositoryStateError,
    UnreleasedCommitsError,
    create_hotfix,
    finish_hotfix,
)
from tests.harness.git_repos import (
    APP_PY,
    DEV_EMAIL,
    DEV_NAME,
    GitWorld,
    git,
)

BRANCH = "hotfix/PROD-2847-login-fails"


pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("isolated_git")]


@pytest.fixture
def world(trunk: GitWorld) -> GitWorld:
    return trunk


def start(world: GitWorld) -> None:
    create_hotfix(
        settings=world.settings(), clone=world.bot, issue_key="PROD-2847", description="Login fails"
    )


def two_fixes(world: GitWorld) -> tuple[str, str]:
    first = world.fix_on_hotfix(BRANCH)
    second = world.commit(BRANCH, {"login.py": "def login():\n    return False\n"}, "Disable login")
    return first, second


def snapshot(world: GitWorld) -> tuple[dict[str, str], dict[str, str]]:
    world.bot_fetch()
    return world.remote_refs(), world.bot_refs()


def assert_all_or_nothing(world: GitWorld, remote: dict[str, str], local: dict[str, str]) -> None:
    assert world.remote_refs() == remote
    assert world.bot_refs() == local
    world.assert_bot_clean()


def test_finish_trunk_happy_path(world: GitWorld) -> None:
    start(world)
    first, second = two_fixes(world)
    before = world.remote_refs()
    old_prod, old_main = before["refs/heads/production"], before["refs/heads/main"]

    done = finish_hotfix(
        settings=world.settings(), clone=world.bot, issue_key="PROD-2847", severity="SEV1"
    )

    after = world.remote_refs()
    new_main = after["refs/heads/main"]
    expected = dict(before)
    del expected[f"refs/heads/{BRANCH}"]
    expected.update(
        {
            "refs/heads/production": second,  # fast-forward: no merge commit
            "refs/heads/main": new_main,
            "refs/tags/v2.1.1": done.tag_sha,
        }
    )
    assert after == expected
    assert git(world.origin, "cat-file", "-t", "refs/tags/v2.1.1") == "tag"
    assert world.rev(world.origin, "v2.1.1^{commit}") == second
    tag_text = git(world.origin, "for-each-ref", "--format=%(contents)", "refs/tags/v2.1.1")
    assert "Resolves: PROD-2847\nSeverity: SEV1" in tag_text

    # main: old main + two cherry-picks, in order, with -x lines, original authors
    picks = git(world.origin, "rev-list", "--reverse", f"{old_main}..{new_main}").split()
    assert len(picks) == 2
    assert world.parents(world.origin, picks[0]) == [old_main]
    assert world.parents(world.origin, picks[1]) == [picks[0]]
    for pick, source in zip(picks, (first, second), strict=True):
        message = world.message(world.origin, pick)
        assert message.endswith(f"(cherry picked from commit {source})")
        assert git(world.origin, "log", "-1", "--format=%an|%ae|%cn", pick) == (
            f"{DEV_NAME}|{DEV_EMAIL}|hotfix-bot"
        )
    assert "name.strip()" in git(world.origin, "show", f"{new_main}:app.py")
    assert "feature" in git(world.origin, "show", f"{new_main}:feature.py")

    assert done.branch_model == "trunk"
    assert done.production_merge_sha is None and done.development_merge_sha is None
    assert (done.production_old_sha, done.production_new_sha, done.tagged_sha) == (
        old_prod,
        second,
        second,
    )
    assert (done.development_branch, done.development_new_sha) == ("main", new_main)
    assert done.hotfix_commits == (first, second)
    assert done.cherry_picked == (CherryPick(first, picks[0]), CherryPick(second, picks[1]))
    assert done.pushed_refs == (
        RefUpdate("refs/heads/production", old_prod, second),
        RefUpdate("refs/heads/main", old_main, new_main),
        RefUpdate("refs/tags/v2.1.1", None, done.tag_sha),
        RefUpdate(f"refs/heads/{BRANCH}", second, None),
    )
    world.assert_bot_clean()
    assert git(world.bot, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(world.bot, "branch", "--list", "hotfix/*") == ""


def test_same_trees_as_git_by_hand(world: GitWorld) -> None:
    start(world)
    first, second = two_fixes(world)
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "switch", "--quiet", "main")
    git(dev, "cherry-pick", "-x", first, second)
    by_hand = git(dev, "rev-parse", "main^{tree}")
    finish_hotfix(settings=world.settings(), clone=world.bot)
    assert world.rev(world.origin, "main^{tree}") == by_hand
    assert world.rev(world.origin, "production") == second


def test_already_applied_commit_is_skipped(world: GitWorld) -> None:
    start(world)
    fixed = APP_PY.replace('return "Hello, " + name', 'return "Hello, " + name.strip()')
    world.commit("main", {"app.py": fixed}, "Same fix, landed on trunk first")
    fix = world.fix_on_hotfix(BRANCH)
    before = world.remote_refs()
    done = finish_hotfix(settings=world.settings(), clone=world.bot)
    assert done.cherry_picked == (CherryPick(fix, None),)
    assert done.development_new_sha == done.development_old_sha == before["refs/heads/main"]
    assert [u.ref for u in done.pushed_refs] == [
        "refs/heads/production",
        "refs/tags/v2.1.1",
        f"refs/heads/{BRANCH}",
    ]
    assert world.remote_refs()["refs/heads/main"] == before["refs/heads/main"]
    world.assert_bot_clean()


def test_production_moved_requires_rebase(world: GitWorld) -> None:
    start(world)
    world.fix_on_hotfix(BRANCH)
    world.commit("production", {"ops.txt": "tweak\n"}, "Ops tweak on the release branch")
    remote, local = snapshot(world)
    with pytest.raises(NonFastForwardError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    err = info.value
    assert err.branch == "production" and err.rejected == ()
    assert "rebase" in err.hint
    assert_all_or_nothing(world, remote, local)


def test_cherry_pick_conflict_rolls_everything_back(world: GitWorld) -> None:
    start(world)
    world.commit(
        "main",
        {"app.py": APP_PY.replace('"Hello, " + name', 'f"Hello, {name}!"')},
        "Rework greeting on trunk",
    )
    first, _second = two_fixes(world)
    remote, local = snapshot(world)
    with pytest.raises(CherryPickConflictError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    err = info.value
    assert (err.files, err.branch, err.commit) == (("app.py",), "main", first)
    assert_all_or_nothing(world, remote, local)
    assert git(world.bot, "tag", "--list", "v2.1.1") == ""
    assert world.rev(world.bot, "production") == remote["refs/heads/production"]


def test_remote_rejects_main(world: GitWorld) -> None:
    start(world)
    world.fix_on_hotfix(BRANCH)
    world.install_update_hook("refs/heads/main", "main is protected")
    remote, local = snapshot(world)
    with pytest.raises(PushRejectedError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    reasons = {r.ref: r.reason for r in info.value.rejected}
    assert reasons["refs/heads/main"] == "remote rejected: hook declined"
    assert "main is protected" in info.value.remote_messages
    assert_all_or_nothing(world, remote, local)


def test_merge_commits_on_the_hotfix_branch_are_refused(world: GitWorld) -> None:
    start(world)
    world.fix_on_hotfix(BRANCH)
    git(world.dev, "switch", "--quiet", "-c", "side", "origin/production")
    (world.dev / "side.txt").write_text("side\n")
    git(world.dev, "add", "side.txt")
    git(world.dev, "commit", "--quiet", "-m", "Side")
    git(world.dev, "switch", "--quiet", BRANCH)
    git(world.dev, "merge", "--quiet", "--no-ff", "--no-edit", "side")
    git(world.dev, "push", "--quiet", "origin", BRANCH)
    remote, local = snapshot(world)
    with pytest.raises(RepositoryStateError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    assert "merge commits" in info.value.message
    assert_all_or_nothing(world, remote, local)


def test_a_hotfix_rebased_onto_main_is_refused(world: GitWorld) -> None:
    """Production would fast-forward over main's unreleased commits: refused, nothing pushed."""
    start(world)
    fix = world.fix_on_hotfix(BRANCH)
    git(world.dev, "switch", "--quiet", BRANCH)
    git(world.dev, "rebase", "--quiet", "origin/main")
    git(world.dev, "push", "--quiet", "--force", "origin", BRANCH)
    rebased_fix = world.rev(world.dev, BRANCH)
    remote, local = snapshot(world)

    with pytest.raises(UnreleasedCommitsError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    err = info.value
    assert [subject for _, subject in err.commits] == ["Add feature", "Document feature"]
    assert err.fixes == (rebased_fix,) and rebased_fix != fix
    assert "of main that production does not have" in err.message
    assert_all_or_nothing(world, remote, local)


def test_the_cherry_pick_conflict_advice_works_when_followed(world: GitWorld) -> None:
    """Port the fix to main by hand with cherry-pick -x, finish again: not picked a second time."""
    start(world)
    reworked = APP_PY.replace('"Hello, " + name', 'f"Hello, {name}!"')
    world.commit("main", {"app.py": reworked}, "Rework greeting on trunk")
    fix = world.fix_on_hotfix(BRANCH)
    with pytest.raises(CherryPickConflictError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    assert f"cherry-pick -x {fix[:10]}" in info.value.hint

    git(world.dev, "fetch", "--quiet", "origin")
    git(world.dev, "switch", "--quiet", "main")
    git(world.dev, "merge", "--quiet", "--ff-only", "origin/main")
    git(world.dev, "cherry-pick", "-x", fix[:10], check=False)
    (world.dev / "app.py").write_text(reworked.replace("{name}", "{name.strip()}"))
    git(world.dev, "commit", "--quiet", "-a", "--no-edit")
    git(world.dev, "push", "--quiet", "origin", "main")
    ported = world.rev(world.dev, "main")

    done = finish_hotfix(settings=world.settings(), clone=world.bot)

    assert done.cherry_picked == (CherryPick(fix, ported),)
    assert world.remote_refs()["refs/heads/main"] == ported  # main left as the person made it
    assert world.rev(world.origin, "production") == fix
