"""Declaring an incident end to end: signed slash command → war room ready.

The bot runs as a real subprocess in HTTP mode; Slack is the emulator, in
this process, over localhost HTTP. "Ready" is the moment the declarer's
answer arrives through the response_url, which the bot sends after the last
war-room step (channel, invites, topic, bookmarks, header, announcement,
escalation, playbook). Also counts the Slack API calls one declaration makes.

    python -m bench.declare [--incidents 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.stats import summary_ms, table
from tests.harness.bot_process import BotProcess
from tests.harness.slack_emulator import SlackEmulator

CONFIG = """\
store:
  path: {db}
incidents:
  announcement_channel: C0INCIDENTS
  escalation_channel: C0EXEC
  escalation_usergroup: S0ONCALL
  bookmarks:
    - {{title: Runbook, link: "https://runbooks.example.com/payments"}}
    - {{title: Dashboard, link: "https://grafana.example.com/d/payments"}}
  severities:
    sev1:
      update_every_minutes: 15
      escalate: true
      responders: [U0BOB, S0ONCALL]
"""


def run(incidents: int) -> tuple[dict[str, float], Counter[str]]:
    with SlackEmulator() as slack, tempfile.TemporaryDirectory() as tmp:
        for user, name in (("U0ALICE", "alice"), ("U0BOB", "bob"), ("U0CAROL", "carol")):
            slack.add_user(user, name)
        slack.add_usergroup("oncall", ["U0CAROL"], usergroup_id="S0ONCALL")
        slack.add_channel("general", channel_id="C0GENERAL", members=("UBOT", "U0ALICE"))
        slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
        slack.add_channel("exec", channel_id="C0EXEC", members=("UBOT",))
        config = Path(tmp) / "hotfix.yml"
        config.write_text(CONFIG.format(db=Path(tmp) / "bench.db"))
        bot = BotProcess(config=config, slack=slack, clock_file=None, log=Path(tmp) / "bot.log")
        try:
            samples = []
            calls_before = len(slack.calls)
            for n in range(incidents):
                started = time.perf_counter()
                result = bot.driver.slash(f'incident create --severity=sev1 --title="Outage {n}"')
                slack.wait_for_response(result.response_id, timeout=30)
                samples.append(time.perf_counter() - started)
            methods = Counter(c.method for c in slack.calls[calls_before:])
        finally:
            bot.stop()
    return summary_ms(samples), methods


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Incident declaration, end to end")
    parser.add_argument("--incidents", type=int, default=100)
    args = parser.parse_args(argv)
    latency, methods = run(args.incidents)
    print(f"Declaring a SEV1 incident end to end ({args.incidents} declarations, one at a time)")
    print(table({"command -> war room ready": latency}))
    per = {m: c / args.incidents for m, c in sorted(methods.items())}
    print(f"Slack API calls per declaration: {sum(per.values()):.1f}")
    for method, count in per.items():
        print(f"  {method:32} {count:.1f}")


if __name__ == "__main__":
    main()
