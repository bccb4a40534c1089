"""Per-repository settings for the hotfix flow."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from .errors import HotfixError
from .validation import (
    ref_format_problem,
    validate_branch_name,
    validate_issue_url_template,
    validate_remote_name,
    validate_tag_prefix,
)

BranchModel = Literal["gitflow", "trunk"]


class RepositorySettings(BaseModel):
    """How one service repository is branched, tagged and pushed.

    ``repository`` is either the path of a local, non-bare clone the bot may
    use, or anything ``git clone`` accepts (URL, scp-like address, path of a
    bare repository), which :func:`services.git.prepare_clone` clones into the
    bot's data directory.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str
    remote: str = "origin"
    branch_model: BranchModel = "gitflow"
    production_branch: str = "production"
    development_branch: str | None = None
    hotfix_prefix: str = "hotfix/"
    tag_prefix: str = "v"
    issue_key_pattern: str = r"[A-Z][A-Z0-9]+-[0-9]+"
    issue_url_template: str | None = None
    author_name: str = "hotfix-bot"
    author_email: str = "hotfix-bot@localhost"

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("repository must not be empty")
        if value.startswith("-"):
            raise ValueError("repository must not start with '-'")
        if "::" in value.split("/", 1)[0]:
            raise ValueError("git remote-helper addresses (<transport>::<address>) are refused")
        if any(ord(c) < 0x20 for c in value):
            raise ValueError("repository contains control characters")
        return value

    @field_validator("remote")
    @classmethod
    def _remote(cls, value: str) -> str:
        return _reraise(validate_remote_name, value)

    @field_validator("production_branch", "development_branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _reraise(validate_branch_name, value)

    @field_validator("hotfix_prefix")
    @classmethod
    def _hotfix_prefix(cls, value: str) -> str:
        if not value.endswith("/") or ref_format_problem(value + "x", branch=True) is not None:
            raise ValueError("hotfix_prefix must be a valid branch-name prefix ending in '/'")
        return value

    @field_validator("tag_prefix")
    @classmethod
    def _tag_prefix(cls, value: str) -> str:
        return _reraise(validate_tag_prefix, value)

    @field_validator("issue_key_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(
                f"issue_key_pattern is not a valid regular expression: {exc}"
            ) from None
        return value

    @field_validator("issue_url_template")
    @classmethod
    def _url_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _reraise(validate_issue_url_template, value)

    @field_validator("author_name", "author_email")
    @classmethod
    def _ident(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c in value for c in "<>\n\r\x00"):
            raise ValueError(
                "author name/email must be non-empty and contain no '<', '>' or newlines"
            )
        return value

    @model_validator(mode="after")
    def _distinct_branches(self) -> RepositorySettings:
        names = {self.production_branch, self.resolved_development_branch}
        if len(names) != 2:
            raise ValueError("production_branch and development_branch must differ")
        for name in names:
            if name.startswith(self.hotfix_prefix):
                raise ValueError(f"branch {name!r} must not live under hotfix_prefix")
        return self

    @property
    def resolved_development_branch(self) -> str:
        """``development_branch``, or ``develop`` (git-flow) / ``main`` (trunk)."""
        if self.development_branch is not None:
            return self.development_branch
        return "develop" if self.branch_model == "gitflow" else "main"

    def issue_url(self, issue_key: str) -> str | None:
        if self.issue_url_template is None:
            return None
        return self.issue_url_template.replace("{key}", quote(issue_key, safe=""))


def _reraise(func: Callable[[str], str], value: str) -> str:
    """Call a validator from ``validation`` and turn its error into a ValueError."""
    try:
        return func(value)
    except HotfixError as exc:
        raise ValueError(exc.message) from None
