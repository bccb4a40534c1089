"""Pure parts of services.git: validation, versions, settings, scrubbing, error mapping."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydantic
import pytest
import semver

from services.git import (
    GitCommandError,
    HotfixError,
    InvalidInputError,
    NonFastForwardError,
    PushRejectedError,
    RejectedRef,
    RepositoryBusyError,
    RepositorySettings,
    TagExistsError,
    scrub,
    slugify,
)
from services.git.branches import branch_matches_issue, hotfix_branch_name, issue_key_of
from services.git.errors import LockHolder
from services.git.session import push_failure
from services.git.validation import (
    ref_format_problem,
    validate_issue_key,
    validate_message_extra,
    validate_trailer_value,
)
from services.git.versions import (
    newest_release,
    next_patch,
    parse_tag,
    parse_version_argument,
)
from services.git.working_copy import PushOutcome

pytestmark = pytest.mark.e2e

PATTERN = r"[A-Z][A-Z0-9]+-\d+"


# ------------------------------------------------------------------ scrubbing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "fatal: unable to access 'https://user:s3cr3t@github.com/org/repo.git/': 403",
            "fatal: unable to access 'https://***@github.com/org/repo.git/': 403",
        ),
        ("https://ghp_abcdef123@github.com/o/r", "https://***@github.com/o/r"),
        ("http://x-access-token:tok@host:8080/r.git", "http://***@host:8080/r.git"),
        ("ssh://git:pw@host/r", "ssh://***@host/r"),
        ("git@github.com:org/repo.git stays", "git@github.com:org/repo.git stays"),
        ("https://github.com/org/repo", "https://github.com/org/repo"),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("two https://a:b@h1/x and https://c@h2/y", "two https://***@h1/x and https://***@h2/y"),
    ],
)
def test_scrub_removes_credentials(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_errors_scrub_their_texts() -> None:
    err = GitCommandError(
        ["git", "clone", "https://bob:hunter2@example.com/r.git"],
        128,
        "fatal: could not read from https://bob:hunter2@example.com/r.git",
    )
    assert "hunter2" not in str(err)
    assert "hunter2" not in " ".join(err.command)
    assert "hunter2" not in err.stderr
    assert err.retryable
    plain = HotfixError("see https://t:x@h/r", hint="retry https://t:x@h/r")
    assert "t:x" not in plain.message and "t:x" not in plain.hint


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("key", ["PROD-2847", "AB-1", "X9-12", "  PROD-1  "])
def test_valid_issue_keys(key: str) -> None:
    assert validate_issue_key(key, PATTERN) == key.strip()


@pytest.mark.parametrize(
    "key", ["", "prod-1", "PROD-", "PROD-12a", "PROD-1;rm -rf /", "-PROD-1", "P-1", "PROD-1\n"]
)
def test_invalid_issue_keys(key: str) -> None:
    if key == "PROD-1\n":  # stripped, so valid: newlines never reach git
        assert validate_issue_key(key, PATTERN) == "PROD-1"
        return
    with pytest.raises(InvalidInputError) as info:
        validate_issue_key(key, PATTERN)
    assert info.value.field == "issue_key"


def test_issue_key_pattern_that_allows_ref_unsafe_text_is_still_refused() -> None:
    with pytest.raises(InvalidInputError):
        validate_issue_key("A..B", r".+")
    with pytest.raises(InvalidInputError):
        validate_issue_key("A/B", r".+")


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Login fails for SSO users!", "login-fails-for-sso-users"),
        ("  --Crème brûlée__crash-- ", "creme-brulee-crash"),
        ("a" * 60, "a" * 40),
        (
            "payment gateway timeout when the cart has more than ten items",
            "payment-gateway-timeout-when-the-cart",
        ),
        ("日本語", ""),
        (None, ""),
        ("", ""),
        ("x.lock", "x-lock"),
    ],
)
def test_slugify(text: str | None, slug: str) -> None:
    result = slugify(text)
    assert result == slug
    assert len(result) <= 40
    assert not result.endswith("-")


def test_branch_names() -> None:
    settings = RepositorySettings(repository="/tmp/x")
    assert (
        hotfix_branch_name(settings, "PROD-2847", "Login fails!") == "hotfix/PROD-2847-login-fails"
    )
    assert hotfix_branch_name(settings, "PROD-2847", None) == "hotfix/PROD-2847"
    assert hotfix_branch_name(settings, "PROD-2847", "!!!") == "hotfix/PROD-2847"
    assert branch_matches_issue(settings, "hotfix/PROD-28-x", "PROD-28")
    assert branch_matches_issue(settings, "hotfix/PROD-28", "PROD-28")
    assert not branch_matches_issue(settings, "hotfix/PROD-2847-x", "PROD-28")
    assert issue_key_of(settings, "hotfix/PROD-2847-login-fails") == "PROD-2847"
    assert issue_key_of(settings, "hotfix/whatever") is None
    assert issue_key_of(settings, "feature/PROD-1") is None


REF_NAMES = [
    "hotfix/PROD-1",
    "hotfix/PROD-1-fix",
    "main",
    "-main",
    "HEAD",
    "a..b",
    "a/.b",
    "a/b.lock",
    "a/b.lock/c",
    "a//b",
    "/a",
    "a/",
    "a.",
    "a@{1}",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "a\tb",
    "a\x7fb",
    "ünïcode/branch",
    "v2.1.1",
    "release/2.1",
    ".hidden",
    "a/b/c-d_e.f",
]


@pytest.mark.parametrize("name", REF_NAMES)
def test_ref_rules_agree_with_git_check_ref_format(name: str, tmp_path: Path) -> None:
    # outside any repository, so "@" is not expanded to the current branch
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, cwd=tmp_path
    )
    git_ok = result.returncode == 0
    assert (ref_format_problem(name, branch=True) is None) == git_ok, name


def test_ref_rules_are_stricter_than_git_for_at_sign() -> None:
    # git accepts a branch called "@" but "@" also means HEAD: refused on purpose
    assert ref_format_problem("@", branch=True) is not None


def test_trailer_and_message_validation() -> None:
    assert validate_trailer_value("  Critical ", "severity") == "Critical"
    assert validate_trailer_value(None, "severity") is None
    assert validate_trailer_value("   ", "severity") is None
    with pytest.raises(InvalidInputError):
        validate_trailer_value("SEV1\nSigned-off-by: mallory", "severity")
    with pytest.raises(InvalidInputError):
        validate_trailer_value("x" * 101, "incident_id")
    assert validate_message_extra("line one\r\nline two\n") == "line one\nline two"
    with pytest.raises(InvalidInputError):
        validate_message_extra("bell\x07")
    with pytest.raises(InvalidInputError):
        validate_message_extra("x" * 2001)


# -------------------------------------------------------------------- versions


def test_newest_release_ignores_prereleases_and_junk() -> None:
    tags = ["v2.0.0", "v2.1.0", "v3.0.0-rc.1", "v2.1", "release-2019", "x2.9.9", "v10.0.0-beta"]
    best = newest_release(tags, "v")
    assert best is not None and best.name == "v2.1.0"
    assert newest_release(["v1.9.0", "v1.10.0"], "v").name == "v1.10.0"  # type: ignore[union-attr]
    assert newest_release([], "v") is None
    assert newest_release(["2.0.0", "v9.0.0"], "").name == "2.0.0"  # type: ignore[union-attr]
    assert parse_tag("vX", "v") is None


def test_next_patch() -> None:
    assert str(next_patch(semver.Version.parse("2.1.0"))) == "2.1.1"
    assert str(next_patch(semver.Version.parse("2.1.9"))) == "2.1.10"
    assert str(next_patch(None)) == "0.0.1"


def test_parse_version_argument() -> None:
    assert str(parse_version_argument("v2.1.1", "v")) == "2.1.1"
    assert str(parse_version_argument("2.1.1", "v")) == "2.1.1"
    assert str(parse_version_argument("v2.2.0-hotfix.1", "v")) == "2.2.0-hotfix.1"
    for bad in ("v2.1", "latest", "v-1.0.0", "2.1.1+build", "vv2.1.1", "--force"):
        with pytest.raises(InvalidInputError) as info:
            parse_version_argument(bad, "v")
        assert info.value.field == "version"


# -------------------------------------------------------------------- settings


def test_settings_defaults_and_resolution() -> None:
    gitflow = RepositorySettings(repository="git@github.com:org/svc.git")
    assert gitflow.remote == "origin"
    assert gitflow.production_branch == "production"
    assert gitflow.resolved_development_branch == "develop"
    assert gitflow.tag_prefix == "v"
    assert (gitflow.author_name, gitflow.author_email) == ("hotfix-bot", "hotfix-bot@localhost")
    assert gitflow.issue_url("PROD-1") is None
    trunk = RepositorySettings(
        repository="/srv/svc",
        branch_model="trunk",
        issue_url_template="https://tracker.example.com/browse/{key}",
    )
    assert trunk.resolved_development_branch == "main"
    assert trunk.issue_url("PROD-2847") == "https://tracker.example.com/browse/PROD-2847"
    custom = RepositorySettings(repository="/srv/svc", development_branch="trunk")
    assert custom.resolved_development_branch == "trunk"


@pytest.mark.parametrize(
    "overrides",
    [
        {"unknown": 1},
        {"branch_model": "github-flow"},
        {"production_branch": "bad..name"},
        {"development_branch": "-x"},
        {"production_branch": "develop"},
        {"tag_prefix": "v/"},
        {"tag_prefix": "v*"},
        {"remote": "--upload-pack=evil"},
        {"issue_key_pattern": "([A-Z"},
        {"issue_url_template": "https://t/{key}/{other}"},
        {"issue_url_template": "https://t/browse"},
        {"repository": "--upload-pack=touch /tmp/x"},
        {"repository": "ext::sh -c touch% /tmp/pwned"},
        {"author_email": "a>b"},
        {"hotfix_prefix": "hotfix"},
    ],
)
def test_settings_rejects_bad_values(overrides: dict[str, object]) -> None:
    values: dict[str, object] = {"repository": "/srv/svc"}
    values.update(overrides)
    with pytest.raises(pydantic.ValidationError):
        RepositorySettings.model_validate(values)


# ------------------------------------------------------------- error mapping


def test_push_failure_hook_rejection_names_the_ref() -> None:
    outcome = PushOutcome(
        ok=False,
        rejected=(
            RejectedRef("refs/heads/develop", "remote rejected: hook declined"),
            RejectedRef("refs/heads/production", "remote rejected: atomic push failure"),
        ),
        remote_messages=("develop is frozen",),
    )
    err = push_failure(outcome, expected={})
    assert type(err) is PushRejectedError
    assert "refs/heads/develop (remote rejected: hook declined)" in err.message
    assert "atomic" in err.message
    assert "develop is frozen" in err.message
    assert err.rejected == outcome.rejected


def test_push_failure_non_fast_forward_and_lock_mismatch() -> None:
    client_side = PushOutcome(
        ok=False,
        rejected=(
            RejectedRef("refs/heads/production", "fetch first"),
            RejectedRef("refs/heads/develop", "atomic push failed"),
        ),
    )
    err = push_failure(client_side, expected={"refs/heads/production": "a" * 40})
    assert isinstance(err, NonFastForwardError) and isinstance(err, PushRejectedError)
    assert err.branch == "production" and err.retryable
    server_side = PushOutcome(
        ok=False,
        rejected=(
            RejectedRef("refs/heads/production", "remote rejected: atomic transaction failed"),
        ),
        remote_messages=(
            "error: cannot lock ref 'refs/heads/production': "
            f"is at {'b' * 40} but expected {'a' * 40}",
        ),
    )
    err = push_failure(server_side, expected={})
    assert isinstance(err, NonFastForwardError)
    assert (err.expected_sha, err.actual_sha) == ("a" * 40, "b" * 40)
    tag_race = PushOutcome(ok=False, rejected=(RejectedRef("refs/tags/v2.1.1", "already exists"),))
    assert isinstance(push_failure(tag_race, expected={}, tag="v2.1.1"), TagExistsError)


def test_busy_error_message() -> None:
    holder = LockHolder(
        operation="hotfix finish", issue_key="PROD-2847", actor="alice", pid=1, since=None
    )
    err = RepositoryBusyError("/srv/svc", holder)
    assert err.message == "busy: PROD-2847 hotfix finish in progress by alice"
    assert "try again" in str(err)
    assert RepositoryBusyError("/x", None).retryable


def test_services_git_never_imports_slack_or_upper_layers() -> None:
    root = Path(__file__).resolve().parents[1] / "services" / "git"
    for path in root.glob("*.py"):
        text = path.read_text()
        for forbidden in (
            "slack_bolt",
            "slack_sdk",
            "import handlers",
            "from handlers",
            "import bot",
            "from bot",
        ):
            assert forbidden not in text, (path.name, forbidden)
        assert "shell=True" not in text
        assert '"--force' not in text and '"-f"' not in text
