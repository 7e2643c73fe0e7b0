"""Time of one query round (choose K beats to label) per strategy, on a 30-minute record and a 24-hour Holter.

    python benchmarks/query_rounds.py [--out benchmarks/results/query_rounds.json]

Input: embedded MIT-BIH 233 (30 min, 3,077 beats) as the pipeline cuts it for the default shipped model, and the
same beats repeated 48 times (24 h, about 148,000 beats: a day-long Holter's count; the time depends on the count,
not on the beats). A round is what ``ecgadapt review`` and a round of active personalization do: the model's
probabilities and features of every beat (computed afresh: a new model every round) and the strategy's choice of K
beats (30), 10 labelled earlier. Each figure: the minimum of 3 runs (this machine is shared).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt._machine import processor_name
from ecgadapt.data import embedded_root
from ecgadapt.models.io import load_checkpoint
from ecgadapt.personalize.base import BeatSet
from ecgadapt.pipeline.recording import load_patient
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.query import QueryPool, get_query, list_queries


def round_seconds(model, beats: BeatSet, name: str, k: int = 30, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        labelled = np.zeros(len(beats), dtype=bool)
        labelled[:: max(1, len(beats) // 10)][:10] = True
        pool = QueryPool(beats, labelled, np.ones(len(beats), dtype=bool))  # a new pool: nothing cached
        t0 = time.perf_counter()
        get_query(name).select(model, pool, k, seed=0)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/query_rounds.json")
    args = parser.parse_args()
    model, meta = load_checkpoint(shipped_model_path())
    beats = load_patient(embedded_root("mitdb") / "233", meta).beats
    day = BeatSet(np.tile(beats.X, (48, 1, 1)), np.tile(beats.rr, (48, 1)), np.tile(beats.y, 48),
                  np.concatenate([beats.time_s + 1800.0 * i for i in range(48)]))
    result = {"model": shipped_model_path().stem, "k": 30, "runs": 3, "processor": processor_name(),
              "cpus": os.cpu_count(), "recordings": {}}
    for label, b in (("30 min (233, %d beats)" % len(beats), beats), ("24 h (233 x 48, %d beats)" % len(day), day)):
        result["recordings"][label] = {name: round(round_seconds(model, b, name), 3) for name in list_queries()}
        print(label, result["recordings"][label])
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
