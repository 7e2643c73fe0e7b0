"""Data-layer benchmarks (not part of the test suite). Re-creates the figures in BENCHMARKS.md.

    python benchmarks/data_benchmarks.py [--data DIR] [--workers 2]

DIR is ../shared/data unpacked (default: .ecg-data, unpacked here on first use). Measures:
1. full preparation time of MIT-BIH (beats) and CinC 2017 (10 s windows at 100 Hz), records/s, cold cache;
2. reading the prepared MIT-BIH beats from the memory-mapped cache vs reading the same records with wfdb
   and cutting the same beats (what a loader without a cache does every epoch).
The R-peak detector's agreement with reference peaks is ``benchmarks/r_peak_detectors.py``'s.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import wfdb

from ecgadapt._atomic import atomic_write_json
from ecgadapt.data import AAMI_MAP
from ecgadapt.prepare import prepare_dataset

REPO = Path(__file__).resolve().parents[1]


def data_root(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    dest = REPO / ".ecg-data"
    subprocess.run([str(REPO.parent / "shared" / "data" / "unpack"), str(dest)], check=True, capture_output=True)
    return dest


def bench_prepare(dataset: str, root: Path, workers: int, cache: Path) -> dict:
    t0 = time.perf_counter()
    prepared, report = prepare_dataset(dataset, root, cache_root=cache, workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    return {"dataset": dataset, "records": report.n_records, "items": len(prepared), "seconds": round(seconds, 2),
            "records_per_s": round(report.n_records / seconds, 1), "failures": len(report.failures),
            "dropped": len(report.dropped), "workers": workers, "cache_mb": round(
                sum(p.stat().st_size for p in (Path(report.cache_dir) / "arrays").glob("*.npy")) / 2**20, 1)}


def bench_read(root: Path, cache: Path) -> dict:
    prepared, _ = prepare_dataset("mitdb", root, cache_root=cache, progress=False)
    settings = prepared.settings
    # cache: two full passes (an epoch of sequential batches), from the page cache as in training
    t0 = time.perf_counter()
    total = 0
    for _ in range(2):
        for s in range(0, len(prepared), 256):
            total += float(np.asarray(prepared.X[s:s + 256]).sum() != 0)
    cache_s = (time.perf_counter() - t0) / 2
    # random-access batches (shuffled epoch)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(prepared))
    t0 = time.perf_counter()
    for s in range(0, len(order), 256):
        np.asarray(prepared.X[np.sort(order[s:s + 256])])
    random_s = time.perf_counter() - t0
    # wfdb: read every record and cut the same windows (no filtering: a lower bound for an uncached loader)
    t0 = time.perf_counter()
    n = 0
    for meta in prepared.records:
        path = str(root / meta["name"])
        rec = wfdb.rdrecord(path, channel_names=["MLII"])
        ann = wfdb.rdann(path, "atr")
        peaks = np.array([p for p, s in zip(ann.sample, ann.symbol) if s in AAMI_MAP])
        before, after = int(settings.beat_before_s * rec.fs), int(settings.beat_after_s * rec.fs)
        peaks = peaks[(peaks >= before) & (peaks + after <= rec.sig_len)]
        x = rec.p_signal[:, 0].astype(np.float32)
        n += len(x[peaks[:, None] + np.arange(-before, after)])
    wfdb_s = time.perf_counter() - t0
    return {"beats": len(prepared), "cache_sequential_s": round(cache_s, 4), "cache_shuffled_s": round(random_s, 4),
            "wfdb_s": round(wfdb_s, 3), "speedup_sequential": round(wfdb_s / cache_s, 1),
            "speedup_shuffled": round(wfdb_s / random_s, 1), "beats_per_s_cache": round(len(prepared) / cache_s),
            "wfdb_beats": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="unpacked ../shared/data (default: .ecg-data)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "data_benchmarks.json"))
    args = ap.parse_args()
    root = data_root(args.data)
    results = {"machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                           "processor": platform.processor() or platform.machine()}}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        results["prepare"] = [bench_prepare("mitdb", root / "mitdb", args.workers, cache),
                              bench_prepare("cinc2017", root / "challenge2017", args.workers, cache)]
        print(json.dumps(results["prepare"], indent=1))
        results["read"] = bench_read(root / "mitdb", cache)
        print(json.dumps(results["read"], indent=1))
    atomic_write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
