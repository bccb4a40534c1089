"""Percentiles and a fixed-width table, shared by every benchmark."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (what latency dashboards usually show)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    return {
        "n": float(len(samples)),
        "p50": percentile(samples, 50) * 1000,
        "p99": percentile(samples, 99) * 1000,
        "mean": statistics.fmean(samples) * 1000,
        "max": max(samples) * 1000,
    }


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = [f"{'':28} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}"]
    for name, s in rows.items():
        figures = " ".join(f"{s[key]:>8.2f}" for key in ("p50", "p99", "mean", "max"))
        lines.append(f"{name:28} {int(s['n']):>6} {figures}")
    return "\n".join(lines)
