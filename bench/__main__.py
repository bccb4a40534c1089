"""Run every benchmark in turn: `python -m bench` (or `make bench`).

The load benchmark (`python -m bench.load`, about 2 minutes) runs on its own.
"""

from bench import ack_latency, declare, reminder_tick, rollback_click, storm

for benchmark in (ack_latency, declare, reminder_tick, rollback_click, storm):
    print(f"\n=== {benchmark.__name__} ===", flush=True)
    benchmark.main([])
