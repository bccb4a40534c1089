"""create_hotfix, hotfix_status and prepare_clone against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.git import (
    DirtyCloneError,
    GitCommandError,
    HotfixExistsError,
    InvalidInputError,
    OtherHotfixOpenError,
    PushRejectedError,
    RefUpdate,
    RepositorySettings,
    RepositoryStateError,
    create_hotfix,
    finish_hotfix,
    hotfix_status,
    prepare_clone,
)
from tests.harness.git_repos import DEV_EMAIL, GitWorld, git

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]


def test_create_gitflow_hotfix(world: GitWorld) -> None:
    before = world.remote_refs()
    production = before["refs/heads/production"]
    created = create_hotfix(
        settings=world.settings(),
        clone=world.bot,
        issue_key="PROD-2847",
        description="Login fails for SSO users!",
        severity="Critical",
    )
    branch = "hotfix/PROD-2847-login-fails-for-sso-users"
    assert created.branch == branch
    assert created.issue_key == "PROD-2847"
    assert created.branch_model == "gitflow"
    assert created.base_ref == "origin/production"
    assert created.base_sha == production
    assert created.baseline_tag == "v2.1.0"  # not v3.0.0-rc.1, not v2.1, not release-2019
    assert created.baseline_sha == world.rev(world.origin, "v2.1.0^{commit}") == production
    assert (created.next_version, created.next_tag) == ("2.1.1", "v2.1.1")
    assert created.issue_url == "https://tracker.example.com/browse/PROD-2847"
    assert created.severity == "Critical"
    assert created.pushed_refs == (RefUpdate(f"refs/heads/{branch}", None, production),)

    after = world.remote_refs()
    assert after == {**before, f"refs/heads/{branch}": production}
    # pushed with upstream tracking, HEAD untouched, clone clean
    assert (
        git(world.bot, "rev-parse", "--abbrev-ref", f"{branch}@{{upstream}}") == f"origin/{branch}"
    )
    assert git(world.bot, "symbolic-ref", "--short", "HEAD") == "production"
    world.assert_bot_clean()


def test_create_without_description_and_without_release_tags(world: GitWorld) -> None:
    for tag in git(world.origin, "tag").splitlines():
        git(world.origin, "tag", "-d", tag)
    for tag in git(world.bot, "tag").splitlines():
        git(world.bot, "tag", "-d", tag)
    created = create_hotfix(settings=world.settings(), clone=world.bot, issue_key="OPS-7")
    assert created.branch == "hotfix/OPS-7"
    assert created.baseline_tag is None
    assert created.baseline_sha == world.rev(world.origin, "production")
    assert (created.next_version, created.next_tag) == ("0.0.1", "v0.0.1")


def test_create_refuses_existing_branch_for_issue_on_remote(world: GitWorld) -> None:
    create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-1", description="a")
    # a different description still names the same issue
    git(world.bot, "branch", "-D", "hotfix/PROD-1-a")
    before = world.remote_refs()
    with pytest.raises(HotfixExistsError) as info:
        create_hotfix(
            settings=world.settings(), clone=world.bot, issue_key="PROD-1", description="b"
        )
    assert info.value.branch == "hotfix/PROD-1-a"
    assert "on origin" in info.value.message
    assert world.remote_refs() == before


def test_create_refuses_existing_local_branch_for_issue(world: GitWorld) -> None:
    git(world.bot, "branch", "hotfix/PROD-5-local", "production")
    with pytest.raises(HotfixExistsError) as info:
        create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-5")
    assert info.value.where.startswith("in the bot's clone")


def test_gitflow_allows_one_hotfix_at_a_time(world: GitWorld) -> None:
    create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-1")
    with pytest.raises(OtherHotfixOpenError) as info:
        create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-2")
    assert info.value.branches == ("hotfix/PROD-1",)
    assert "Finish that one first".lower() in str(info.value).lower()


def test_trunk_allows_several_hotfixes(trunk: GitWorld) -> None:
    first = create_hotfix(settings=trunk.settings(), clone=trunk.bot, issue_key="PROD-1")
    second = create_hotfix(settings=trunk.settings(), clone=trunk.bot, issue_key="PROD-2")
    assert first.branch == "hotfix/PROD-1" and second.branch == "hotfix/PROD-2"
    refs = trunk.remote_refs()
    assert "refs/heads/hotfix/PROD-1" in refs and "refs/heads/hotfix/PROD-2" in refs


def test_invalid_input_is_refused_before_any_git_call(tmp_path: Path) -> None:
    # the clone does not even exist: validation must fail first
    settings = RepositorySettings(repository=str(tmp_path / "nowhere"))
    with pytest.raises(InvalidInputError) as info:
        create_hotfix(settings=settings, clone=tmp_path / "nowhere", issue_key="prod 1; rm -rf /")
    assert info.value.field == "issue_key"
    with pytest.raises(InvalidInputError):
        create_hotfix(
            settings=settings, clone=tmp_path / "nowhere", issue_key="PROD-1", base="a..b"
        )
    with pytest.raises(InvalidInputError):
        finish_hotfix(settings=settings, clone=tmp_path / "nowhere", version="latest")
    with pytest.raises(InvalidInputError):
        finish_hotfix(settings=settings, clone=tmp_path / "nowhere", severity="a\nb")


def test_create_from_a_base_tag_and_refuse_foreign_base(world: GitWorld) -> None:
    created = create_hotfix(
        settings=world.settings(), clone=world.bot, issue_key="PROD-3", base="v2.0.0"
    )
    assert created.base_ref == "v2.0.0"
    assert created.base_sha == world.rev(world.origin, "v2.0.0^{commit}")
    assert created.baseline_tag == "v2.1.0"  # versions always follow production
    git(world.bot, "branch", "-D", created.branch)
    git(world.origin, "branch", "-D", created.branch)
    with pytest.raises(InvalidInputError) as info:
        create_hotfix(
            settings=world.settings(), clone=world.bot, issue_key="PROD-4", base="develop"
        )
    assert info.value.field == "base"
    with pytest.raises(InvalidInputError):
        create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-4", base="nope")


def test_create_push_rejected_leaves_no_local_branch(world: GitWorld) -> None:
    world.install_update_hook("refs/heads/hotfix/PROD-9", "no hotfixes today")
    before_remote, before_local = world.remote_refs(), world.bot_refs()
    with pytest.raises(PushRejectedError) as info:
        create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-9")
    assert "no hotfixes today" in info.value.message
    assert info.value.rejected[0].ref == "refs/heads/hotfix/PROD-9"
    assert world.remote_refs() == before_remote
    assert world.bot_refs() == before_local


def test_dirty_clone_is_refused(world: GitWorld) -> None:
    (world.bot / "app.py").write_text("changed\n")
    with pytest.raises(DirtyCloneError) as info:
        create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-1")
    assert "app.py" in info.value.message


def test_missing_production_branch(world: GitWorld) -> None:
    with pytest.raises(RepositoryStateError):
        create_hotfix(
            settings=world.settings(production_branch="master"), clone=world.bot, issue_key="PROD-1"
        )


def test_stale_local_hotfix_branch_is_pruned(world: GitWorld) -> None:
    # someone finished PROD-1 by hand elsewhere: merged into production, branch deleted
    create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-1")
    fix = world.fix_on_hotfix("hotfix/PROD-1")
    world.bot_fetch()
    git(world.bot, "update-ref", "refs/heads/hotfix/PROD-1", fix)  # the bot saw the fix too
    git(world.dev, "switch", "--quiet", "production")
    git(world.dev, "merge", "--quiet", "--no-ff", "-m", "manual", "hotfix/PROD-1")
    git(world.dev, "push", "--quiet", "origin", "production", ":refs/heads/hotfix/PROD-1")
    created = create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-2")
    assert created.branch == "hotfix/PROD-2"
    assert git(world.bot, "branch", "--list", "hotfix/PROD-1") == ""


def test_hotfix_status(world: GitWorld) -> None:
    create_hotfix(
        settings=world.settings(), clone=world.bot, issue_key="PROD-2847", description="x"
    )
    assert [s.ahead for s in hotfix_status(settings=world.settings(), clone=world.bot)] == [0]
    fix = world.fix_on_hotfix("hotfix/PROD-2847-x")
    world.commit("production", {"ops.txt": "tweak\n"}, "Ops tweak on production")
    (status,) = hotfix_status(settings=world.settings(), clone=world.bot, issue_key="PROD-2847")
    assert status.branch == "hotfix/PROD-2847-x"
    assert status.issue_key == "PROD-2847"
    assert status.sha == fix
    assert (status.ahead, status.behind) == (1, 1)
    assert status.last_commit.sha == fix
    assert status.last_commit.subject == "Fix greeting for padded names"
    assert status.last_commit.author_email == DEV_EMAIL
    assert not status.merged_into_production and not status.finished
    assert status.issue_url == "https://tracker.example.com/browse/PROD-2847"
    assert hotfix_status(settings=world.settings(), clone=world.bot, issue_key="PROD-1") == []


def test_hotfix_status_reports_finished_leftover(world: GitWorld) -> None:
    create_hotfix(settings=world.settings(), clone=world.bot, issue_key="PROD-8")
    world.fix_on_hotfix("hotfix/PROD-8")
    finish_hotfix(settings=world.settings(), clone=world.bot)
    # a stale copy of the branch pushed back by someone: status sees it shipped
    git(world.dev, "push", "--quiet", "origin", "hotfix/PROD-8:hotfix/PROD-8")
    (status,) = hotfix_status(settings=world.settings(), clone=world.bot)
    assert status.merged_into_production
    assert status.finished and status.finished_tag == "v2.1.1"


def test_prepare_clone_uses_local_clone_or_clones_remote(world: GitWorld, tmp_path: Path) -> None:
    assert (
        prepare_clone(settings=world.settings(), data_dir=tmp_path / "data") == world.bot.resolve()
    )
    remote_settings = world.settings(repository=str(world.origin))
    path = prepare_clone(settings=remote_settings, data_dir=tmp_path / "data")
    assert path.parent == tmp_path / "data" / "repos"
    assert path.name.startswith("origin-")
    assert git(path, "remote", "get-url", "origin") == str(world.origin)
    # reused the second time
    assert prepare_clone(settings=remote_settings, data_dir=tmp_path / "data") == path
    created = create_hotfix(settings=remote_settings, clone=path, issue_key="PROD-11")
    assert f"refs/heads/{created.branch}" in world.remote_refs()


def test_git_failures_never_show_credentials(tmp_path: Path) -> None:
    settings = RepositorySettings(repository="https://deploy:s3cr3t-t0ken@127.0.0.1:9/svc.git")
    with pytest.raises(GitCommandError) as info:
        prepare_clone(settings=settings, data_dir=tmp_path / "data")
    text = f"{info.value} {info.value.command} {info.value.stderr} {info.value!r}"
    assert "s3cr3t-t0ken" not in text
    assert "https://***@127.0.0.1:9/svc.git" in " ".join(info.value.command)
