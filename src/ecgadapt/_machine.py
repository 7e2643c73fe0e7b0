"""What machine a result was made on, for the cards and results that record it."""

from __future__ import annotations

import platform
from pathlib import Path


def processor_name() -> str:
    """The processor's model name (Linux: ``/proc/cpuinfo``), else what ``platform`` knows. Recorded beside a trained
    model because a seeded training run is repeatable on one processor and thread count, not across processors: other
    CPU kernels round differently (BENCHMARKS.md, "Absent classes deferred to the population model")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
