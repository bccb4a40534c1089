"""Slash-command acknowledgement latency over HTTP mode, ours next to a bare Bolt app.

Both servers run as real subprocesses on the same server stack (Bolt's WSGI
adapter under waitress) and receive the same signed slash commands over
keep-alive localhost HTTP, one at a time, interleaved in blocks so that
machine noise hits both alike. Ours parses, renders and audits; the bare app
only acks.

    python -m bench.ack_latency [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench.stats import summary_ms, table
from tests.harness.slack_driver import slack_signature
from tests.harness.slack_emulator import SlackEmulator

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
REPO = Path(__file__).resolve().parent.parent
BARE = "bare Bolt (default): ack"
BARE_SYNC = "bare Bolt (sync): ack"


@contextmanager
def server(argv: list[str], env: dict[str, str]) -> Iterator[str]:
    process = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.removeprefix("listening on ").strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


class Client:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=10
        )

    def slash(self, text: str, response_url: str) -> float:
        body = urlencode(
            {
                "token": "x",
                "team_id": "T0TEAM",
                "channel_id": "C0GENERAL",
                "user_id": "U0ALICE",
                "command": "/hotfix",
                "text": text,
                "response_url": response_url,
                "trigger_id": "1.2.3",
            }
        ).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": slack_signature(SECRET, stamp, body),
        }
        started = time.perf_counter()
        self.conn.request("POST", self.path, body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        return elapsed


def run(requests: int, block: int = 100) -> dict[str, dict[str, float]]:
    with SlackEmulator(bot_token=TOKEN) as slack, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "hotfix.yml"
        config.write_text(f"store:\n  path: {tmp}/bench.db\n")
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
        }
        env.pop("SLACK_APP_TOKEN", None)
        _, response_url = slack.new_response_url()
        ours_argv = [sys.executable, "-m", "bot", "--config", str(config), "serve", "--http"]
        ours_argv += ["--host", "127.0.0.1", "--port", "0"]
        bare_argv = [sys.executable, "-m", "bench.bare_bolt"]
        with (
            server(ours_argv, env) as ours_url,
            server(bare_argv, env) as bare_url,
            server([*bare_argv, "--sync"], env) as bare_sync_url,
        ):
            ours, bare, bare_sync = Client(ours_url), Client(bare_url), Client(bare_sync_url)
            cases = {
                "ours: /hotfix help": (ours, "help"),
                "ours: unknown command": (ours, "deploi --now"),
                BARE: (bare, "help"),
                BARE_SYNC: (bare_sync, "help"),
            }
            for client, text in cases.values():  # warm-up: imports, caches, connections
                for _ in range(200):
                    client.slash(text, response_url)
            samples: dict[str, list[float]] = {name: [] for name in cases}
            while min(len(s) for s in samples.values()) < requests:
                for name, (client, text) in cases.items():
                    samples[name] += [client.slash(text, response_url) for _ in range(block)]
    return {name: summary_ms(values[:requests]) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    results = run(args.requests)
    print("Slash-command ack latency, HTTP mode, signed requests, sequential keep-alive")
    print(table(results))
    for baseline in (BARE, BARE_SYNC):
        bare = results[baseline]
        for name in ("ours: /hotfix help", "ours: unknown command"):
            ours = results[name]
            print(
                f"{name} vs {baseline}: p50 {ours['p50'] / bare['p50']:.2f}x,"
                f" p99 {ours['p99'] / bare['p99']:.2f}x (target: p99 <= 1.25x)"
            )
    print(
        "'default' is a bare Bolt app as Bolt sets it up (process_before_response=False: Bolt"
        " polls for the ack every 10 ms); 'sync' is the same app with"
        " process_before_response=True, the mode hotfix-bot runs in."
    )


if __name__ == "__main__":
    main()
