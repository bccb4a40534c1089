"""finish_hotfix under git-flow: the happy path and every way it must fail cleanly."""

from __future__ import annotations

import pytest

from services.git import (
    AmbiguousHotfixError,
    BackMergeConflictError,
    DivergedBranchError,
    EmptyHotfixError,
    InvalidInputError,
    MergeConflictError,
    NoHotfixError,
    NonFastForwardError,
    PushRejectedError,
    RefUpdate,
    TagExistsError,
    UnreleasedCommitsError,
    create_hotfix,
    finish_hotfix,
)
from tests.harness.git_repos import APP_PY, GitWorld, git

BRANCH = "hotfix/PROD-2847-login-fails"


pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]


def start(world: GitWorld, *, fix: bool = True) -> str | None:
    create_hotfix(
        settings=world.settings(), clone=world.bot, issue_key="PROD-2847", description="Login fails"
    )
    return world.fix_on_hotfix(BRANCH) if fix else None


def snapshot(world: GitWorld) -> tuple[dict[str, str], dict[str, str]]:
    """Remote and bot refs once the bot has seen everything (finish's own fetch is a no-op)."""
    world.bot_fetch()
    return world.remote_refs(), world.bot_refs()


def assert_all_or_nothing(world: GitWorld, remote: dict[str, str], local: dict[str, str]) -> None:
    assert world.remote_refs() == remote
    assert world.bot_refs() == local
    world.assert_bot_clean()
    assert git(world.bot, "branch", "--list", BRANCH) != ""  # the hotfix branch is still there


def test_finish_gitflow_happy_path(world: GitWorld) -> None:
    fix = start(world)
    before = world.remote_refs()
    old_prod, old_dev = before["refs/heads/production"], before["refs/heads/develop"]

    done = finish_hotfix(
        settings=world.settings(),
        clone=world.bot,
        issue_key="PROD-2847",
        severity="Critical",
        incident_id="INC-12",
    )

    after = world.remote_refs()
    prod, dev = after["refs/heads/production"], after["refs/heads/develop"]
    # exactly: production and develop moved, one new tag, the hotfix branch gone
    expected = dict(before)
    del expected[f"refs/heads/{BRANCH}"]
    expected.update(
        {"refs/heads/production": prod, "refs/heads/develop": dev, "refs/tags/v2.1.1": done.tag_sha}
    )
    assert after == expected

    # --no-ff merges: first parent the old branch tip, second the hotfix tip
    assert world.parents(world.origin, prod) == [old_prod, fix]
    assert world.parents(world.origin, dev) == [old_dev, fix]  # nvie: the hotfix branch
    assert world.message(world.origin, prod) == (
        f"Merge branch '{BRANCH}' into production\n\n"
        "Resolves: PROD-2847\nSeverity: Critical\nIncident: INC-12"
    )
    assert world.message(world.origin, dev).startswith(f"Merge branch '{BRANCH}' into develop\n\n")
    assert "Resolves: PROD-2847" in world.message(world.origin, dev)
    assert git(world.origin, "log", "-1", "--format=%an <%ae>|%cn", prod) == (
        "hotfix-bot <hotfix-bot@localhost>|hotfix-bot"
    )
    # annotated tag on the production merge, carrying the same trailers
    assert git(world.origin, "cat-file", "-t", "refs/tags/v2.1.1") == "tag"
    assert world.rev(world.origin, "v2.1.1^{commit}") == prod
    tag_text = git(world.origin, "for-each-ref", "--format=%(contents)", "refs/tags/v2.1.1")
    assert tag_text.startswith("Hotfix v2.1.1 (PROD-2847)\n\n")
    assert "Resolves: PROD-2847\nSeverity: Critical\nIncident: INC-12" in tag_text
    assert git(world.origin, "for-each-ref", "--format=%(taggername)", "refs/tags/v2.1.1") == (
        "hotfix-bot"
    )
    # content: production has the fix, develop has the fix and its own work
    assert "name.strip()" in git(world.origin, "show", f"{prod}:app.py")
    assert "name.strip()" in git(world.origin, "show", f"{dev}:app.py")
    assert "feature" in git(world.origin, "show", f"{dev}:feature.py")

    assert done.issue_key == "PROD-2847"
    assert done.branch == BRANCH
    assert (done.version, done.tag, done.baseline_tag) == ("2.1.1", "v2.1.1", "v2.1.0")
    assert (done.production_old_sha, done.production_new_sha) == (old_prod, prod)
    assert done.production_merge_sha == prod == done.tagged_sha
    assert (done.development_old_sha, done.development_new_sha) == (old_dev, dev)
    assert done.development_merge_sha == dev
    assert done.hotfix_sha == fix and done.hotfix_commits == (fix,)
    assert done.cherry_picked == ()
    assert done.branch_deleted
    assert done.issue_url == "https://tracker.example.com/browse/PROD-2847"
    assert (done.severity, done.incident_id) == ("Critical", "INC-12")
    assert done.pushed_refs == (
        RefUpdate("refs/heads/production", old_prod, prod),
        RefUpdate("refs/heads/develop", old_dev, dev),
        RefUpdate("refs/tags/v2.1.1", None, done.tag_sha),
        RefUpdate(f"refs/heads/{BRANCH}", fix, None),
    )
    # the clone: like git-flow leaves it, on develop, no hotfix branch, all in sync
    world.assert_bot_clean()
    assert git(world.bot, "symbolic-ref", "--short", "HEAD") == "develop"
    assert git(world.bot, "branch", "--list", "hotfix/*") == ""
    assert world.rev(world.bot, "production") == prod
    assert world.rev(world.bot, "develop") == dev
    assert world.rev(world.bot, "refs/tags/v2.1.1") == done.tag_sha
    assert git(world.bot, "branch", "--remotes", "--list", f"origin/{BRANCH}") == ""


def test_same_result_as_git_by_hand(world: GitWorld) -> None:
    """The trees and the shape of history equal what `git flow hotfix finish` (nvie) makes."""
    fix = start(world)
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "switch", "--quiet", "production")
    git(dev, "merge", "--quiet", "--ff-only", "origin/production")
    git(dev, "merge", "--quiet", "--no-ff", "--no-edit", BRANCH)
    git(dev, "tag", "-a", "-m", "2.1.1", "v2.1.1")
    git(dev, "switch", "--quiet", "develop")
    git(dev, "merge", "--quiet", "--ff-only", "origin/develop")
    git(dev, "merge", "--quiet", "--no-ff", "--no-edit", BRANCH)
    by_hand = {
        "production": git(dev, "rev-parse", "production^{tree}"),
        "develop": git(dev, "rev-parse", "develop^{tree}"),
    }

    finish_hotfix(settings=world.settings(), clone=world.bot)

    for branch, tree in by_hand.items():
        assert world.rev(world.origin, f"{branch}^{{tree}}") == tree
        assert world.parents(world.origin, branch)[1] == fix
        assert world.parents(world.origin, branch)[0] == world.parents(dev, branch)[0]
    assert world.rev(world.origin, "v2.1.1^{commit}") == world.rev(world.origin, "production")


def test_finish_fast_forwards_stale_local_branches(world: GitWorld) -> None:
    fix = start(world)
    # production and develop moved on the remote after the bot last saw them
    ops = world.commit("production", {"ops.txt": "tweak\n"}, "Ops tweak")
    feat = world.commit("develop", {"more.py": "x = 1\n"}, "More feature")
    done = finish_hotfix(
        settings=world.settings(), clone=world.bot, message_extra="Rolled out first to eu-1."
    )
    assert world.parents(world.origin, done.production_new_sha) == [ops, fix]
    assert world.parents(world.origin, done.development_new_sha) == [feat, fix]
    assert world.message(world.origin, done.production_new_sha) == (
        f"Merge branch '{BRANCH}' into production\n\n"
        "Rolled out first to eu-1.\n\nResolves: PROD-2847"
    )


def test_explicit_version(world: GitWorld) -> None:
    start(world)
    with pytest.raises(InvalidInputError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot, version="v2.0.9")
    assert info.value.field == "version"
    done = finish_hotfix(settings=world.settings(), clone=world.bot, version="2.2.0")
    assert (done.version, done.tag) == ("2.2.0", "v2.2.0")
    assert "refs/tags/v2.2.0" in world.remote_refs()


def test_conflict_on_production(world: GitWorld) -> None:
    start(world, fix=False)
    world.commit(
        "production",
        {"app.py": APP_PY.replace('"Hello, " + name', '"Hi, " + name')},
        "Direct change on production",
    )
    world.fix_on_hotfix(BRANCH)
    remote, local = snapshot(world)

    with pytest.raises(MergeConflictError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-2847")

    err = info.value
    assert (err.files, err.branch, err.source) == (("app.py",), "production", BRANCH)
    assert "app.py" in err.message and "production" in err.message
    assert "nothing was pushed" in err.hint
    assert_all_or_nothing(world, remote, local)


def test_conflict_on_develop_rolls_back_production_merge_and_tag(world: GitWorld) -> None:
    start(world, fix=False)
    world.commit(
        "develop",
        {"app.py": APP_PY.replace('"Hello, " + name', 'f"Hello, {name}!"')},
        "Rework greeting on develop",
    )
    world.fix_on_hotfix(BRANCH)
    remote, local = snapshot(world)

    with pytest.raises(MergeConflictError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    assert (info.value.files, info.value.branch) == (("app.py",), "develop")
    assert_all_or_nothing(world, remote, local)
    assert git(world.bot, "tag", "--list", "v2.1.1") == ""


def test_tag_already_on_remote(world: GitWorld) -> None:
    start(world)
    git(world.dev, "tag", "v2.1.1", "origin/develop")
    git(world.dev, "push", "--quiet", "origin", "v2.1.1")
    remote, local = snapshot(world)
    with pytest.raises(TagExistsError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    assert info.value.tag == "v2.1.1"
    assert info.value.where == "on origin"
    assert info.value.sha == remote["refs/tags/v2.1.1"]
    assert_all_or_nothing(world, remote, local)


def test_tag_already_in_local_clone_only(world: GitWorld) -> None:
    start(world)
    remote, _ = snapshot(world)
    git(world.bot, "tag", "v2.1.1", "production")
    local = world.bot_refs()
    with pytest.raises(TagExistsError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    assert info.value.where.startswith("in the bot's clone")
    assert_all_or_nothing(world, remote, local)


def test_remote_hook_rejects_develop(world: GitWorld) -> None:
    start(world)
    world.install_update_hook("refs/heads/develop", "develop is frozen for the release")
    remote, local = snapshot(world)

    with pytest.raises(PushRejectedError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    err = info.value
    assert type(err) is PushRejectedError
    reasons = {r.ref: r.reason for r in err.rejected}
    assert reasons["refs/heads/develop"] == "remote rejected: hook declined"
    assert set(reasons) == {
        "refs/heads/production",
        "refs/heads/develop",
        "refs/tags/v2.1.1",
        f"refs/heads/{BRANCH}",
    }
    assert "develop is frozen for the release" in err.remote_messages
    assert "refs/heads/develop" in err.message and "atomic" in err.message
    assert_all_or_nothing(world, remote, local)


def test_remote_moved_after_fetch_is_detected_before_pushing(world: GitWorld) -> None:
    start(world)
    theirs = world.commit(
        "develop", {"late.py": "late = True\n"}, "Late develop commit", push=False
    )
    # while the bot merges, someone pushes to develop
    world.install_bot_hook(
        "post-merge",
        f"""\
        unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
        git -C "{world.dev}" push --quiet origin develop:develop || true
        """,
    )
    remote, local = snapshot(world)

    with pytest.raises(NonFastForwardError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    err = info.value
    assert err.branch == "develop" and err.actual_sha == theirs and err.retryable
    assert err.rejected == ()
    assert "moved on the remote" in err.message
    assert world.remote_refs() == {**remote, "refs/heads/develop": theirs}
    local_now = world.bot_refs()
    assert local_now == local
    world.assert_bot_clean()


def test_remote_moved_during_the_push_is_rejected_atomically(world: GitWorld) -> None:
    start(world)
    theirs = world.commit("production", {"ops.txt": "race\n"}, "Racing ops commit", push=False)
    world.install_bot_hook(
        "pre-push",
        f"""\
        cat > /dev/null
        unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
        git -C "{world.dev}" push --quiet origin production:production || true
        exit 0
        """,
    )
    remote, local = snapshot(world)

    with pytest.raises(NonFastForwardError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    err = info.value
    assert err.branch == "production" and err.actual_sha == theirs
    assert err.rejected and all("atomic" in r.reason for r in err.rejected)
    assert world.remote_refs() == {**remote, "refs/heads/production": theirs}
    assert world.bot_refs() == local
    world.assert_bot_clean()


def test_empty_hotfix_is_refused(world: GitWorld) -> None:
    start(world, fix=False)
    remote, local = snapshot(world)
    with pytest.raises(EmptyHotfixError):
        finish_hotfix(settings=world.settings(), clone=world.bot)
    assert_all_or_nothing(world, remote, local)


def test_no_and_ambiguous_hotfix(world: GitWorld) -> None:
    with pytest.raises(NoHotfixError):
        finish_hotfix(settings=world.settings(), clone=world.bot)
    start(world)
    with pytest.raises(NoHotfixError):
        finish_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-1")
    git(world.dev, "push", "--quiet", "origin", "origin/production:refs/heads/hotfix/OPS-1")
    with pytest.raises(AmbiguousHotfixError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    assert info.value.branches == ("hotfix/OPS-1", BRANCH)


def test_diverged_local_branch_is_refused(world: GitWorld) -> None:
    start(world)
    git(world.bot, "switch", "--quiet", "--track", "origin/develop")
    (world.bot / "local.txt").write_text("unpushed\n")
    git(world.bot, "add", "local.txt")
    git(world.bot, "commit", "--quiet", "-m", "Unpushed local work")
    remote, local = snapshot(world)
    with pytest.raises(DivergedBranchError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    assert info.value.branch == "develop"
    assert_all_or_nothing(world, remote, local)


# -- a hotfix branch never carries develop's unreleased work to production -------------------

DEVELOP_GREETING = APP_PY.replace('"Hello, " + name', 'f"Hello, {name}!"')


def develop_conflict(world: GitWorld) -> MergeConflictError:
    """The fix conflicts with develop's rework of greet(): the first finish is refused."""
    start(world, fix=False)
    world.commit("develop", {"app.py": DEVELOP_GREETING}, "Rework greeting on develop")
    world.fix_on_hotfix(BRANCH)
    with pytest.raises(MergeConflictError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)
    return info.value


def files_at(world: GitWorld, rev: str) -> set[str]:
    return set(git(world.origin, "ls-tree", "-r", "--name-only", rev).splitlines())


def test_merging_develop_into_the_hotfix_branch_is_refused_naming_the_commits(
    world: GitWorld,
) -> None:
    develop_conflict(world)
    fix = world.rev(world.dev, f"origin/{BRANCH}")
    # What the old advice said: merge develop into the hotfix branch and resolve.
    git(world.dev, "switch", "--quiet", BRANCH)
    git(world.dev, "merge", "--quiet", "--no-edit", "origin/develop", check=False)
    (world.dev / "app.py").write_text(DEVELOP_GREETING.replace("{name}", "{name.strip()}"))
    git(world.dev, "commit", "--quiet", "-am", "Merge develop into the hotfix")
    git(world.dev, "push", "--quiet", "origin", BRANCH)
    remote, local = snapshot(world)

    with pytest.raises(UnreleasedCommitsError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    err = info.value
    assert [subject for _, subject in err.commits] == [
        "Add feature",
        "Document feature",
        "Rework greeting on develop",
    ]
    assert err.message.startswith(
        f"{BRANCH} carries 3 commits of develop that production does not have:"
    )
    assert "Add feature" in err.message and "nothing was pushed" in err.message
    assert f"git switch -C {BRANCH} origin/production" in err.hint
    assert f"git cherry-pick {fix[:10]}" in err.hint  # the fix, not the merge
    assert_all_or_nothing(world, remote, local)
    assert "refs/tags/v2.1.1" not in world.remote_refs()

    # The advice, as given, rebuilds a branch finish accepts (develop still conflicts: the
    # back-merge advice is next, see test_the_develop_conflict_advice_ships_only_the_fix).
    git(world.dev, "switch", "--quiet", "-C", BRANCH, "origin/production")
    git(world.dev, "cherry-pick", fix[:10])
    git(world.dev, "push", "--quiet", "--force-with-lease", "origin", BRANCH)
    with pytest.raises(BackMergeConflictError):
        finish_hotfix(settings=world.settings(), clone=world.bot)


def test_a_hotfix_rebased_onto_develop_is_refused(world: GitWorld) -> None:
    start(world, fix=False)
    world.fix_on_hotfix(BRANCH)
    git(world.dev, "switch", "--quiet", BRANCH)
    git(world.dev, "rebase", "--quiet", "origin/develop")
    git(world.dev, "push", "--quiet", "--force", "origin", BRANCH)
    remote, local = snapshot(world)

    with pytest.raises(UnreleasedCommitsError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    assert len(info.value.commits) == 2
    assert_all_or_nothing(world, remote, local)


def test_the_develop_conflict_advice_ships_only_the_fix(world: GitWorld) -> None:
    err = develop_conflict(world)
    fix = world.rev(world.dev, f"origin/{BRANCH}")
    assert "do not merge develop into" in err.hint.lower()
    assert f"git switch -c merge/{BRANCH} origin/develop" in err.hint
    assert f"git merge --no-ff {BRANCH}" in err.hint

    # Follow the advice: a branch off develop that merges the hotfix, merged into develop.
    git(world.dev, "fetch", "--quiet", "origin")
    git(world.dev, "switch", "--quiet", "-c", f"merge/{BRANCH}", "origin/develop")
    git(world.dev, "merge", "--quiet", "--no-ff", "--no-edit", f"origin/{BRANCH}", check=False)
    (world.dev / "app.py").write_text(DEVELOP_GREETING.replace("{name}", "{name.strip()}"))
    git(world.dev, "commit", "--quiet", "-am", f"Merge {BRANCH} into develop")
    git(world.dev, "switch", "--quiet", "develop")
    git(world.dev, "merge", "--quiet", "--ff-only", "origin/develop")
    git(world.dev, "merge", "--quiet", "--no-ff", "--no-edit", f"merge/{BRANCH}")  # the PR
    git(world.dev, "push", "--quiet", "origin", "develop")
    develop = world.rev(world.dev, "develop")

    done = finish_hotfix(settings=world.settings(), clone=world.bot)

    remote = world.remote_refs()
    assert remote["refs/heads/develop"] == develop == done.development_new_sha  # had the fix
    assert world.parents(world.origin, "production") == [done.production_old_sha, fix]
    assert world.rev(world.origin, "v2.1.1^{commit}") == remote["refs/heads/production"]
    assert "feature.py" not in files_at(world, "v2.1.1")  # develop's work stays on develop
    released = git(world.origin, "log", "--format=%s", "v2.1.0..v2.1.1")
    assert "Add feature" not in released and "Rework greeting" not in released


def test_the_unreleased_commit_list_is_bounded_and_plain(world: GitWorld) -> None:
    start(world, fix=False)
    hostile = "<!channel> \u202egnitirw\u202c @here " + "x" * 10_000
    for n in range(12):
        world.commit("develop", {f"f{n}.txt": f"{n}\n"}, f"{hostile} {n}")
    world.fix_on_hotfix(BRANCH)
    git(world.dev, "switch", "--quiet", BRANCH)
    git(world.dev, "merge", "--quiet", "--no-edit", "origin/develop")
    git(world.dev, "push", "--quiet", "origin", BRANCH)

    with pytest.raises(UnreleasedCommitsError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    err = info.value
    assert len(err.commits) == 14
    assert "and 9 more" in err.message
    assert len(err.message) < 1000 and len(err.hint) < 1000
    assert "\u202e" not in err.message and "\n" not in err.message


def test_a_feature_branch_merged_into_develop_and_the_hotfix_is_refused(world: GitWorld) -> None:
    """develop reaches the feature through a merge too: only a merge of the hotfix is exempt."""
    start(world, fix=False)
    world.fix_on_hotfix(BRANCH)
    git(world.dev, "switch", "--quiet", "-c", "feature/search", "origin/production")
    (world.dev / "search.py").write_text("def search():\n    return []\n")
    git(world.dev, "add", "search.py")
    git(world.dev, "commit", "--quiet", "-m", "Add search")
    for target in ("develop", BRANCH):
        git(world.dev, "switch", "--quiet", target)
        git(world.dev, "merge", "--quiet", "--ff-only", f"origin/{target}")
        git(world.dev, "merge", "--quiet", "--no-ff", "--no-edit", "feature/search")
        git(world.dev, "push", "--quiet", "origin", target)
    remote, local = snapshot(world)

    with pytest.raises(UnreleasedCommitsError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    assert [subject for _, subject in info.value.commits] == ["Add search"]
    assert_all_or_nothing(world, remote, local)


def test_a_conflict_in_many_files_names_a_few_and_counts_the_rest(world: GitWorld) -> None:
    """The answer must fit a Slack message (3,000 characters per section)."""
    start(world, fix=False)
    names = [f"module_{n:03}_{'x' * 60}.py" for n in range(200)]
    world.commit("develop", {name: "develop\n" for name in names}, "Develop's version")
    world.commit(BRANCH, {name: "hotfix\n" for name in names}, "Hotfix's version")

    with pytest.raises(BackMergeConflictError) as info:
        finish_hotfix(settings=world.settings(), clone=world.bot)

    err = info.value
    assert err.files == tuple(sorted(names))  # all of them, for whoever reads the error
    assert names[0] in err.message and "and 190 more" in err.message
    assert len(err.message) + len(err.hint) < 2500
