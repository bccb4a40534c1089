"""An incident storm against Slack's rate limits: completion time next to the physical limit.

N SEV1 incidents are declared at once (signed slash commands, sent concurrently)
to the bot in HTTP mode; the Slack emulator enforces Slack's published
per-method tiers and chat.postMessage's per-channel limit
(tests/harness/slack_rate_limits.py). "Complete" is the moment the last
declarer's answer arrives, which the bot sends after the war room's last step.

The tier-limited minimum is the physical limit for the calls the storm made:
the busiest method's calls divided into its per-minute allowance (n calls of a
method allowing L a minute need ceil(n / L) - 1 whole minutes from a fresh
window), or a channel's posts at one a second after the burst, whichever is
longest. No client can finish sooner without making fewer calls.

Slack's minutes run on a clock shared by the bot and the emulator and scaled by
--scale (10: one emulated minute takes six wall-clock seconds); every duration
below is in emulated seconds. The bot's own wall-clock work is stretched by the
same factor, so a higher scale overstates the overhead; --scale 1 is real time
(several minutes).

    python -m bench.storm [--incidents 50] [--scale 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.harness.storm import storm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Incident storm against Slack's rate limits")
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--scale", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, storm(Path(tmp), scale=args.scale) as run:
        wall = time.monotonic()
        run.declare(args.incidents, timeout=max(600.0, 3600.0 / args.scale))
        wall = time.monotonic() - wall
        finished, minimum = run.finished(), run.minimum()
        calls = Counter(c.method for c in run.admitted())
        limited = run.ratelimited()
        over = run.over_limit()
    print(
        f"{args.incidents} SEV1 incidents declared at once; Slack's limits enforced;"
        f" time scale {args.scale:g}x (wall clock {wall:.1f}s)"
    )
    print(f"  all war rooms complete after   {finished:8.1f} s")
    print(f"  tier-limited minimum           {minimum:8.1f} s")
    ratio = finished / minimum if minimum else float("inf")
    print(f"  ratio                          {ratio:8.2f}")
    print(f"  calls past a tier              {len(over):8d}")
    print("  Slack API calls (answered / 429):")
    for method, count in sorted(calls.items()):
        print(f"    {method:30} {count:5d} / {limited.get(method, 0)}")


if __name__ == "__main__":
    main()
