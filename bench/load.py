"""Load: a steady stream of signed slash commands plus a burst of declarations, HTTP mode.

The bot runs as a real subprocess in HTTP mode (``hotfix-bot serve --http``);
Slack is the emulator, in this process, over localhost HTTP. An open-loop
generator offers ``--rate`` signed slash commands per second for ``--seconds``
(``/hotfix help`` and ``/hotfix incident list`` in turn, both answered in the
acknowledgement; ``--mix`` picks them) from a thread pool over keep-alive
connections. Each request has a scheduled send time and a slow answer never
delays the next one; latency is measured from the schedule, so queueing in the
generator counts against the bot, not in its favour. At the start of the window
``--declarations`` ``/hotfix incident create`` commands are fired at once from
as many threads.

Afterwards: how many requests were acknowledged under Slack's 3 s, latency
percentiles, errors, the bot's peak RSS (VmHWM) and CPU, and whether anything
was lost: every declaration's INC must exist with exactly one ``declared``
timeline event, and every acknowledged command must have its audit row.

    python -m bench.load [--rate 200] [--seconds 60] [--declarations 50]
                         [--mix help,incident list] [--connections 32] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.stats import percentile, summary_ms, table
from tests.harness.bot_process import BotProcess
from tests.harness.slack_driver import SlackDriver, SlackRequest
from tests.harness.slack_emulator import SlackEmulator

ACK_LIMIT = 3.0  # Slack shows the user an error when the ack takes longer
WARMUP_REQUESTS = 40
TEXTS = ("help", "incident list")  # the fast paths: answered in the acknowledgement
CREATE = 'incident create --severity=sev2 --title="Load test {n}" --impact=high'

CONFIG = """\
store:
  path: {db}
incidents:
  announcement_channel: C0INCIDENTS
"""


@dataclass
class Shot:
    """One request: what was sent, when it was due, when it went out and came back."""

    kind: str  # "help", "incident list", "incident create"
    body: bytes
    headers: dict[str, str]
    response_id: str | None
    trigger_id: str | None
    due: float = 0.0  # perf_counter when it should be sent
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    error: str | None = None
    fired_wall: float = 0.0  # time.time() when sent (the emulator stamps posts with it)

    @property
    def latency(self) -> float:
        """From the schedule to the complete answer: what Slack would see."""
        return self.done - self.due

    @property
    def acked(self) -> bool:
        return self.error is None and self.status == 200


class Connections:
    """One keep-alive HTTP/1.1 connection per generator thread."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path
        self._local = threading.local()

    def post(self, shot: Shot) -> None:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self._local.conn = conn
        shot.sent = time.perf_counter()
        shot.fired_wall = time.time()
        try:
            conn.request("POST", self.path, body=shot.body, headers=shot.headers)
            response = conn.getresponse()
            response.read()
            shot.status = response.status
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                self._local.conn = None
        except (OSError, http.client.HTTPException) as exc:
            shot.error = f"{type(exc).__name__}: {exc}"
            conn.close()
            self._local.conn = None
        shot.done = time.perf_counter()


def build(driver: SlackDriver, kind: str, text: str) -> Shot:
    """A signed slash command; each has its own trigger id and response_url, as from Slack."""
    request: SlackRequest = driver.slash_request(text)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        **driver.sign(request.body),
    }
    return Shot(kind, request.body, headers, request.response_id, request.trigger_id)


# -- the bot process ----------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (kB) and Threads from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            values[key] = int(rest.split()[0])
    return values


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of the process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the run --------------------------------------------------------------------------------


@dataclass
class Result:
    load: list[Shot]
    declarations: list[Shot]
    window: float  # seconds from the first due time to the last answer of the load
    rss_before: dict[str, int]
    rss_after: dict[str, int]
    bot_cpu: float
    bench_cpu: float
    ready: list[float]  # declaration -> war room ready (response_url answer), seconds
    not_ready: int
    audit: Counter[str]
    incidents: int
    declared_events: dict[str, int]
    request_keys: set[str]
    flow_events: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    mix: tuple[str, ...] = TEXTS


def run(
    rate: float,
    seconds: float,
    declarations: int,
    connections: int,
    mix: tuple[str, ...] = TEXTS,
) -> Result:
    with SlackEmulator() as slack, tempfile.TemporaryDirectory() as tmp:
        slack.add_user("U0ALICE", "alice")
        slack.add_channel("general", channel_id="C0GENERAL", members=("UBOT", "U0ALICE"))
        slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
        db = Path(tmp) / "load.db"
        config = Path(tmp) / "hotfix.yml"
        config.write_text(CONFIG.format(db=db))
        log = Path(tmp) / "bot.log"
        bot = BotProcess(config=config, slack=slack, clock_file=None, log=log)
        pid = bot.process.pid
        try:
            client = Connections(bot.url)
            driver = bot.driver

            # Warm-up (not counted in the figures, but audited like everything else).
            warmup = [build(driver, t, t) for t in (TEXTS * WARMUP_REQUESTS)[:WARMUP_REQUESTS]]
            for shot in warmup:
                client.post(shot)
            assert all(s.acked for s in warmup), [s.error or s.status for s in warmup]

            total = int(rate * seconds)
            load = [build(driver, mix[i % len(mix)], mix[i % len(mix)]) for i in range(total)]
            burst = [
                build(driver, "incident create", CREATE.format(n=n)) for n in range(declarations)
            ]
            rss_before = proc_status(pid)
            cpu_before = proc_cpu_seconds(pid)
            bench_before = time.process_time()

            start = time.perf_counter() + 0.5
            for i, shot in enumerate(load):
                shot.due = start + i / rate

            # The burst: one thread per declaration, all released at the window's start.
            barrier = threading.Barrier(len(burst) + 1) if burst else None

            def declare(shot: Shot) -> None:
                assert barrier is not None
                barrier.wait()
                shot.due = start
                delay = start - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                client.post(shot)

            burst_threads = [threading.Thread(target=declare, args=(s,)) for s in burst]
            for thread in burst_threads:
                thread.start()
            if barrier is not None:
                barrier.wait()

            # Open loop: submit each request at its due time, whatever the answers do.
            with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="load") as pool:
                for shot in load:
                    delay = shot.due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    pool.submit(client.post, shot)
            for thread in burst_threads:
                thread.join()
            window = max((s.done for s in load), default=start) - start

            # Let every declaration finish its war room (answered through its response_url).
            deadline = time.monotonic() + 120
            for shot in burst:
                if shot.acked and shot.response_id:
                    slack.wait_for(
                        lambda rid=shot.response_id: bool(slack.responses(rid)),
                        timeout=max(0.0, deadline - time.monotonic()),
                    )
            ready, not_ready = [], 0
            for shot in burst:
                posts = [p for p in slack.response_posts(shot.response_id or "") if p.status == 200]
                if posts:
                    ready.append(posts[0].time - shot.fired_wall)
                else:
                    not_ready += 1
            rss_after = proc_status(pid)
            bot_cpu = proc_cpu_seconds(pid) - cpu_before
            bench_cpu = time.process_time() - bench_before
        except BaseException:
            print(f"--- bot log ({log}) ---\n" + log.read_text()[-4000:])
            raise
        finally:
            bot.stop()

        with closing(sqlite3.connect(db)) as conn:  # the bot has stopped: everything is on disk
            audit = Counter(
                {
                    action: count
                    for action, count in conn.execute(
                        "SELECT action, COUNT(*) FROM audit GROUP BY action"
                    )
                }
            )
            incidents = conn.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
            declared = dict(
                conn.execute(
                    "SELECT incident_id, COUNT(*) FROM timeline WHERE kind = 'declared'"
                    " GROUP BY incident_id"
                ).fetchall()
            )
            keys = {row[0] for row in conn.execute("SELECT request_key FROM incidents")}
            flow = Counter(
                {
                    kind: count
                    for kind, count in conn.execute(
                        "SELECT kind, COUNT(*) FROM timeline GROUP BY kind"
                    )
                }
            )
        # The warm-up was audited too, but is not part of the figures.
        for shot in warmup:
            audit[f"command:{shot.kind}"] -= 1
    return Result(
        load=load,
        declarations=burst,
        window=window,
        rss_before=rss_before,
        rss_after=rss_after,
        bot_cpu=bot_cpu,
        bench_cpu=bench_cpu,
        ready=ready,
        not_ready=not_ready,
        audit=audit,
        incidents=incidents,
        declared_events=declared,
        request_keys=keys,
        flow_events=flow,
        connections=connections,
        mix=mix,
    )


# -- the report ---------------------------------------------------------------------------


def report(result: Result, *, rate: float, seconds: float) -> bool:
    """Print the summary; True when every check held."""
    load, burst = result.load, result.declarations
    everything = load + burst
    ok = [s for s in everything if s.acked]
    under = [s for s in ok if s.latency < ACK_LIMIT]
    errors = Counter(s.error or f"HTTP {s.status}" for s in everything if not s.acked)
    sends = sorted(s.sent for s in load if s.sent)
    achieved = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 else 0.0
    lag = [s.sent - s.due for s in load if s.sent]

    print(
        f"Load, HTTP mode: {rate:g} signed slash commands/s for {seconds:g} s"
        f" ({len(load)} requests: {' / '.join(result.mix)} in turn)"
        f" + {len(burst)} concurrent `incident create` at the start"
    )
    rows: dict[str, dict[str, float]] = {}
    for kind in result.mix:
        samples = [s.latency for s in load if s.kind == kind and s.acked]
        if samples:
            rows[f"ack: {kind}"] = summary_ms(samples)
    acked_load = [s for s in load if s.acked]
    if acked_load:
        rows["ack: all load (on the wire)"] = summary_ms([s.done - s.sent for s in acked_load])
    declared_ok = [s.latency for s in burst if s.acked]
    if declared_ok:
        rows["ack: incident create"] = summary_ms(declared_ok)
    if result.ready:
        rows["create -> war room ready"] = summary_ms(result.ready)
    print(table(rows))
    print("(ack latency is measured from each request's scheduled send time; 'on the wire'")
    print(" from when it was actually written to the socket)")

    all_latency = [s.latency for s in ok]
    print()
    print(f"offered rate          {rate:g}/s; achieved send rate {achieved:.1f}/s")
    if lag:
        print(
            f"generator lag         p50 {percentile(lag, 50) * 1000:.1f} ms,"
            f" p99 {percentile(lag, 99) * 1000:.1f} ms, max {max(lag) * 1000:.1f} ms"
        )
    span = max(result.window, 1e-9)
    print(
        f"window                {result.window:.1f} s (first due time -> last load answer);"
        f" answered {len(acked_load) / span:.1f}/s"
    )
    if lag and percentile(lag, 99) > 0.1:
        print(
            f"                      (the generator fell behind its schedule because all"
            f" {result.connections} connections were waiting for answers: the bot, not the"
            " generator, set the pace; see CPU below)"
        )
    print(
        f"acknowledged < {ACK_LIMIT:g} s   {len(under)} of {len(everything)}"
        f" ({100 * len(under) / max(1, len(everything)):.2f} %)"
    )
    if all_latency:
        print(
            f"ack latency, all      p50 {percentile(all_latency, 50) * 1000:.1f} ms,"
            f" p99 {percentile(all_latency, 99) * 1000:.1f} ms,"
            f" max {max(all_latency) * 1000:.1f} ms"
        )
    print(f"errors                {sum(errors.values())}" + (f" {dict(errors)}" if errors else ""))
    hwm = result.rss_after.get("VmHWM", 0)
    print(
        f"bot RSS               before {result.rss_before.get('VmRSS', 0) / 1024:.1f} MiB,"
        f" after {result.rss_after.get('VmRSS', 0) / 1024:.1f} MiB,"
        f" peak (VmHWM) {hwm / 1024:.1f} MiB; threads {result.rss_after.get('Threads', 0)}"
    )
    print(
        f"CPU                   bot {result.bot_cpu:.1f} s ({100 * result.bot_cpu / span:.0f} % of"
        f" one core); bench process (generator + Slack emulator) {result.bench_cpu:.1f} s"
        f" ({100 * result.bench_cpu / span:.0f} %) on {os.cpu_count()} cores"
    )
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"bench process peak RSS {self_rss / 1024:.1f} MiB")

    # -- nothing lost ---------------------------------------------------------------------
    print()
    print(f"{'':28} {'sent':>6} {'acked':>6} {'audited':>8} {'lost':>6}")
    lost_total = 0
    for kind in (*result.mix, "incident create"):
        shots = [s for s in everything if s.kind == kind]
        acked = sum(s.acked for s in shots)
        audited = result.audit.get(f"command:{kind}", 0)
        lost = max(0, acked - audited)
        lost_total += lost
        print(f"{'audit: ' + kind:28} {len(shots):>6} {acked:>6} {audited:>8} {lost:>6}")
    sent_keys = {s.trigger_id for s in burst if s.acked}
    missing = sent_keys - result.request_keys
    duplicates = {inc: n for inc, n in result.declared_events.items() if n != 1}
    print(
        f"declarations: {len(sent_keys)} acked, {result.incidents} incidents,"
        f" {len(sent_keys) - len(missing)} found by request key,"
        f" {sum(1 for n in result.declared_events.values() if n == 1)} with exactly one"
        f" `declared` event; missing {len(missing)}, duplicated {len(duplicates)}"
    )
    print(
        f"war rooms ready: {len(result.ready)} of {len(burst)}"
        f" (not answered within 120 s: {result.not_ready});"
        f" war_room_created events {result.flow_events.get('war_room_created', 0)},"
        f" announced {result.flow_events.get('announced', 0)},"
        f" step_failed {result.flow_events.get('step_failed', 0)}"
    )
    lost_timeline = len(missing) + len(duplicates) + abs(result.incidents - len(sent_keys))
    print(f"lost timeline rows: {lost_timeline}; lost audit rows: {lost_total}")
    passed = len(under) == len(everything) and lost_timeline == 0 and lost_total == 0 and not errors
    print(
        "RESULT: " + ("PASS" if passed else "FAIL") + " (every request acked < 3 s, nothing lost)"
    )
    return passed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, help="slash commands per second (default 200)")
    parser.add_argument("--seconds", type=float, help="length of the window (default 60)")
    parser.add_argument(
        "--declarations", type=int, help="concurrent `incident create` at the start (default 50)"
    )
    parser.add_argument(
        "--connections", type=int, default=32, help="generator threads / keep-alive connections"
    )
    parser.add_argument(
        "--mix",
        default=",".join(TEXTS),
        help="the fast-path commands sent in turn, comma-separated (default: help,incident list)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 50/s for 5 s and 10 declarations"
    )
    args = parser.parse_args(argv)
    defaults = (50.0, 5.0, 10) if args.quick else (200.0, 60.0, 50)
    rate = args.rate if args.rate is not None else defaults[0]
    seconds = args.seconds if args.seconds is not None else defaults[1]
    declarations = args.declarations if args.declarations is not None else defaults[2]
    mix = tuple(dict.fromkeys(t.strip() for t in args.mix.split(",") if t.strip()))
    if not mix or any(t not in TEXTS for t in mix):
        parser.error(f"--mix takes some of: {', '.join(TEXTS)}")
    if rate <= 0 or seconds <= 0 or declarations < 0 or args.connections < 1:
        parser.error("--rate and --seconds must be > 0, --declarations >= 0, --connections >= 1")
    result = run(rate, seconds, declarations, args.connections, mix)
    report(result, rate=rate, seconds=seconds)


if __name__ == "__main__":
    main()
