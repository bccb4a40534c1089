"""hotfix-bot as a real subprocess in HTTP mode, for restart and crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.harness.running_bot import SIGNING_SECRET
from tests.harness.slack_driver import SlackDriver
from tests.harness.slack_emulator import SlackEmulator

REPO = Path(__file__).resolve().parent.parent.parent


class BotProcess:
    def __init__(
        self,
        *,
        config: Path,
        slack: SlackEmulator,
        clock_file: Path | None,
        log: Path,
        extra_env: dict[str, str] | None = None,
        verbose: bool = False,
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
        env.update(
            SLACK_BOT_TOKEN=slack.bot_token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
        )
        if clock_file is not None:
            env["HOTFIX_CLOCK_FILE"] = str(clock_file)
        env.update(extra_env or {})
        argv = [sys.executable, "-m", "bot", *(["-v"] if verbose else [])]
        argv += ["--config", str(config), "serve", "--http"]
        argv += ["--host", "127.0.0.1", "--port", "0"]
        self._log = log.open("a")
        self.process = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"bot did not start: {line!r}; see {log}")
        self.url = line.removeprefix("listening on ").strip()
        self.driver = SlackDriver(bot_url=self.url, signing_secret=SIGNING_SECRET, emulator=slack)

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._log.close()
