"""A deployable "service" for the command backend: real scripts and a real health endpoint.

deploy.py writes the version it deploys to state/live and logs its argv;
rollback.py restores the version it is given (else the previous one); status.py prints the
live one. "fail-rollback" makes rollback.py fail, "noop-rollback" makes it claim success
and change nothing.
The health server answers 200 unless the live version is listed as bad, so
a test decides whether verification passes. A "hold" file makes deploy.py
wait (to kill the bot mid-deployment).
"""

from __future__ import annotations

import json
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DEPLOY = textwrap.dedent(
    """\
    import json, pathlib, sys, time
    root = pathlib.Path(__file__).parent
    (root / "calls.log").open("a").write(json.dumps(["deploy", *sys.argv[1:]]) + "\\n")
    hold = root / "hold"
    while hold.exists():
        (root / "holding").touch()
        time.sleep(0.05)
    live = root / "live"
    history = root / "history"
    if live.exists():
        history.open("a").write(live.read_text() + "\\n")
    live.write_text(sys.argv[1])
    print(f"deployed {sys.argv[1]}")
    if (root / "fail-deploy").exists():
        print("helm: UPGRADE FAILED: timed out waiting for the condition")
        sys.exit(1)
    """
)
ROLLBACK = textwrap.dedent(
    """\
    import json, pathlib, sys
    root = pathlib.Path(__file__).parent
    (root / "calls.log").open("a").write(json.dumps(["rollback", *sys.argv[1:]]) + "\\n")
    if (root / "fail-rollback").exists():
        print("rollback.sh: no release found for " + " ".join(sys.argv[1:]))
        sys.exit(3)
    history = (root / "history").read_text().split() if (root / "history").exists() else []
    target = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else (history[-1] if history else "")
    if (root / "noop-rollback").exists():  # a script that says it worked and changes nothing
        print(f"rolled back to {target}")
        sys.exit(0)
    (root / "live").write_text(target)
    print(f"rolled back to {target}")
    """
)
STATUS = textwrap.dedent(
    """\
    import pathlib
    live = pathlib.Path(__file__).parent / "live"
    print(live.read_text() if live.exists() else "nothing deployed")
    """
)


class DeployTarget:
    def __init__(self, root: Path, *, live: str = "v2.1.0") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for name, source in (
            ("deploy.py", DEPLOY),
            ("rollback.py", ROLLBACK),
            ("status.py", STATUS),
        ):
            (root / name).write_text(source)
        (root / "live").write_text(live)
        self.bad_versions: set[str] = set()
        target = self

        class Health(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                version = target.live
                healthy = version not in target.bad_versions
                body = json.dumps(
                    {"status": "ok" if healthy else "error", "version": version}
                ).encode()
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def live(self) -> str:
        return (self.root / "live").read_text()

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/healthz"

    def calls(self) -> list[list[str]]:
        log = self.root / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def environment(self, **overrides: object) -> dict[str, object]:
        """An `environments.<name>` config block for this target."""
        python = sys.executable
        config: dict[str, object] = {
            "backend": "command",
            "command": {
                "deploy": [python, str(self.root / "deploy.py"), "{version}"],
                "rollback": [python, str(self.root / "rollback.py")],
                "status": [python, str(self.root / "status.py")],
                "timeout_seconds": 30,
            },
            "approvers": ["U0BOB", "U0CAROL"],
            "health_checks": [
                {"url": self.health_url, "expect_status": 200, "body_contains": '"ok"'}
            ],
            "verify_seconds": 30,
            "verify_interval_seconds": 10,
        }
        config.update(overrides)
        return config

    def rollback_environment(self, **overrides: object) -> dict[str, object]:
        """The environment block for rollbacks: its rollback script is told the version and
        the environment, and verification is off."""
        python = sys.executable
        scripts = {
            "deploy": [python, str(self.root / "deploy.py"), "{version}"],
            "rollback": [python, str(self.root / "rollback.py"), "{version}", "{environment}"],
            "status": [python, str(self.root / "status.py")],
            "timeout_seconds": 30,
        }
        return self.environment(**{"command": scripts, "verify_seconds": 0, **overrides})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[DeployTarget]:
    """A deploy target in the test's temp directory (the suite's plugin: tests/conftest.py)."""
    deployed = DeployTarget(tmp_path / "target")
    yield deployed
    deployed.stop()
