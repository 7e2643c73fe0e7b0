"""R-peak detector agreement with reference peaks (not part of the test suite). Re-creates BENCHMARKS.md's table.

    python benchmarks/r_peak_detectors.py [--data DIR]

DIR is ../shared/data unpacked (default: .ecg-data). For neurokit2's detector as it ships (``neurokit-upright``) and
as ecgadapt runs it (``neurokit``: complexes that point down included, ``signal.peaks``): sensitivity and positive
predictivity against the MIT-BIH annotated beats on each of its two leads (lead 0: MLII in 45 records; lead 1: V1 in
40), and against the CPSC 2019 sample's reference R peaks, matched within 150 ms. Nothing here is tuned: the only
setting of the second method, how near an upright peak a turned-over one is the same complex, is neurokit2's own
refractory period (0.3 s).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ecgadapt._atomic import atomic_write_json
from ecgadapt.prepare import evaluate_detector

REPO = Path(__file__).resolve().parents[1]
REFERENCES = (("mitdb", "mitdb", 0), ("mitdb", "mitdb", 1), ("cpsc2019", "samples/cpsc2019_samples", 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO / ".ecg-data"), help="unpacked ../shared/data")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "r_peak_detectors.json"))
    args = ap.parse_args()
    rows = []
    for method in ("neurokit-upright", "neurokit"):
        for dataset, sub, lead in REFERENCES:
            start = time.perf_counter()
            r = evaluate_detector(dataset, Path(args.data) / sub, lead=lead, method=method, progress=False)
            worst = sorted(r["records"], key=lambda x: min(x["sensitivity"], x["ppv"]))[:5]
            rows.append({"method": method, "dataset": dataset, "lead": lead, "records": len(r["records"]),
                         **{k: r[k] for k in ("sensitivity", "ppv", "tp", "fp", "fn", "tolerance_s", "failures")},
                         "seconds": round(time.perf_counter() - start, 1),
                         "worst_records": [{k: x[k] for k in ("record", "sensitivity", "ppv")} for x in worst],
                         "per_record": r["records"]})
            print(f"{method:>16} {dataset} lead {lead}: Se {r['sensitivity']:.4f} PPV {r['ppv']:.4f} "
                  f"(TP {r['tp']}, FP {r['fp']}, FN {r['fn']}) {rows[-1]['seconds']} s")
    atomic_write_json(args.out, {"rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
