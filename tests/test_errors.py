"""The one error convention: every error the bot explains derives from services.errors and
speaks `message` + `hint`; the retryable ones are TemporaryErrors (or say so per error)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import timedelta

import pytest

import services
from services.chat import ChatError
from services.comms.errors import Refused, RetryLater
from services.errors import ConflictError, TemporaryError, UserFacingError
from services.git import CherryPickConflictError, GitCommandError, HotfixError, RepositoryBusyError
from services.kube.lease import LeaseHeldError

pytestmark = pytest.mark.unit

# Errors of a client that are never shown as such: each caller turns them into a sentence.
# A chat failure stays out of the tree on purpose: the handlers catch UserFacingError to
# answer the person who asked, and a Slack outage must not be answered as if they erred.
OUTSIDE_THE_TREE = {ChatError, LeaseHeldError}


def _error_classes() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in pkgutil.walk_packages(services.__path__, "services."):
        loaded = importlib.import_module(module.name)
        for _, value in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(value, Exception) and value.__module__ == module.name:
                found.add(value)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def test_every_error_of_the_services_derives_from_the_one_base() -> None:
    strays = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _error_classes()
        if not issubclass(cls, UserFacingError)
        and not any(issubclass(cls, allowed) for allowed in OUTSIDE_THE_TREE)
    ]
    assert strays == []


def test_no_error_speaks_the_old_convention() -> None:
    for cls in _error_classes():
        names = set(inspect.signature(cls.__init__).parameters)
        assert not names & {"user_message", "what_to_do"}, cls


def test_a_git_error_speaks_message_and_hint_with_credentials_scrubbed() -> None:
    error = HotfixError("cannot reach https://bot:s3cret@git.example/app", hint="")
    assert isinstance(error, UserFacingError)
    assert error.message == "cannot reach https://***@git.example/app"
    assert error.hint is None  # an empty hint is no hint: the reply shows none
    assert not error.retryable


def test_git_errors_that_may_pass_are_temporary() -> None:
    assert isinstance(RepositoryBusyError("/clone", None), TemporaryError)
    assert GitCommandError(["git", "fetch"], 128, "timeout").retryable


def test_a_conflicting_hotfix_is_a_conflict_of_the_one_kind() -> None:
    error = CherryPickConflictError(files=["app.py"], branch="main", commit="a" * 40)
    assert isinstance(error, ConflictError) and isinstance(error, HotfixError)
    assert "app.py" in error.message and error.hint is not None


def test_a_delivery_told_to_wait_keeps_the_wait_as_its_delay() -> None:
    later = RetryLater("rate limited", after=timedelta(seconds=90), whole_channel=True)
    assert later.retryable and later.delay == 90.0 and later.after == timedelta(seconds=90)
    assert RetryLater("down").after is None
    assert not Refused("bad key", hint="set the key").retryable
