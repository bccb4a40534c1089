"""Run every benchmark in turn: `python -m bench` (or `make bench`)."""

from bench import ack_latency

ack_latency.main([])
