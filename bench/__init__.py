"""Benchmarks: each prints its figures beside a baseline run in the same process."""

from __future__ import annotations

import os


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed beside every timing (the machines are shared)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
