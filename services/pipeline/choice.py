"""Which named group a command means (a validate suite, a verify endpoint group).

The one named, or the environment's only one; otherwise an answer that lists what exists.
A name left out with several to choose from is a MissingChoiceError (the handler answers it
as a usage error naming the flag); typed text is echoed at most ECHOED characters.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from services.deploy.inference import MissingChoiceError
from services.errors import UserFacingError

ECHOED = 40


@dataclass(frozen=True)
class Named:
    what: str  # "test suite", "endpoint group"
    flag: str  # "--test-suite"
    where: str  # "payments/staging"
    how_to_add: str  # the hint when there are none


def choose(named: Named, names: Collection[str], asked: str | None) -> str:
    known = sorted(names)
    if not known:
        raise UserFacingError(f"{named.where} has no {named.what}s.", hint=named.how_to_add)
    if asked is None:
        if len(known) == 1:
            return known[0]
        raise MissingChoiceError(
            f"Which {named.what}? {named.where} has several: {', '.join(known)}.",
            hint=f"Add {named.flag}=<name>, e.g. {named.flag}={known[0]}.",
        )
    if asked not in names:
        raise UserFacingError(
            f"{named.where} has no {named.what} {asked[:ECHOED]!r}.",
            hint="Configured: " + ", ".join(known) + ".",
        )
    return asked
