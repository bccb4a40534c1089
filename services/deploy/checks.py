"""The configured pre-deployment checks (smoke tests, migration dry-runs): run, named, judged.

Each check's name and result is what people read on the card, the timeline and the
postmortem ("checks: smoke passed, migrate-dry-run exited with 1"); the output of a
failed one follows, as the last lines of what it printed (already redacted by
services.deploy.process).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.deploy.process import OUTPUT_KEPT, ProcessResult, fill, run
from services.deploy.settings import Check

CHECK_TAIL_LINES = 8


@dataclass(frozen=True)
class ChecksOutcome:
    results: list[tuple[str, ProcessResult]] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [f"check {name} {r.describe()}" for name, r in self.results if not r.ok]

    @property
    def summary(self) -> str:
        """One line: every check by name with its result."""
        return "checks: " + ", ".join(f"{name} {r.describe()}" for name, r in self.results)

    @property
    def output(self) -> str:
        """The last lines of each failed check, under its name."""
        parts = []
        for name, result in self.results:
            if not result.ok:
                parts.append(f"[{name}]\n{result.tail(CHECK_TAIL_LINES) or '(no output)'}")
        return "\n".join(parts)

    @property
    def full_output(self) -> str:
        """The whole output of each failed check (its end, if very long), for the timeline."""
        return "\n".join(
            f"[{name}]\n{result.output[-OUTPUT_KEPT:]}"
            for name, result in self.results
            if not result.ok
        )


def run_checks(
    checks: list[Check], *, values: dict[str, str], env: Mapping[str, str]
) -> ChecksOutcome:
    return ChecksOutcome(
        [
            (check.name, run(fill(check.argv, values), timeout=check.timeout_seconds, env=env))
            for check in checks
        ]
    )
