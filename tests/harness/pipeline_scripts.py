"""Real scripts for the deploy pipeline's configured commands: migrations, smoke tests, hooks.

Each appends its argv as a JSON line to the log it is given (the deploy target's calls.log,
so a test reads deploys, rollbacks and migrations in the order they ran), and fails when a
file `fail-<name>` exists next to it. `hostile` next to them makes each print 10 KB with
mentions and right-to-left marks, as a misbehaving tool would.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """\
    import json, pathlib, sys
    here = pathlib.Path(__file__).parent
    log, name, *rest = sys.argv[1:]
    with open(log, "a") as out:
        out.write(json.dumps([name, *rest]) + "\\n")
    if (here / "hostile").exists():
        print("<!channel> <@U0EVE> \\u202eevil\\u202c ``` " + "X" * 10_000)
    if name == "snapshot":
        print(f"pg_dump: wrote /backups/payments-{rest[0]}.dump")
    else:
        print(f"{name} {' '.join(rest)}: done")
    if (here / f"fail-{name}").exists():
        print(f"{name}: ERROR relation \\"ledger\\" is locked")
        sys.exit(4)
    """
)


class PipelineScripts:
    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        root.mkdir(parents=True, exist_ok=True)
        (root / "step.py").write_text(SCRIPT)

    def argv(self, name: str, *args: str) -> list[str]:
        return [sys.executable, str(self.root / "step.py"), str(self.log), name, *args]

    def fail(self, name: str) -> None:
        (self.root / f"fail-{name}").touch()

    def hostile(self) -> None:
        (self.root / "hostile").touch()

    def migrations(self) -> dict[str, object]:
        """A service's `migrations:` block: each command told the version and environment."""
        return {
            which: self.argv(which, "{version}", "{environment}")
            for which in ("check", "up", "down", "verify", "snapshot")
        } | {"timeout_seconds": 30}
