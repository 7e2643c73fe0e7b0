"""Do the figures a Holter report leads with come out right, patient by patient, with and without personalization?

    python benchmarks/holter_figures.py --mitdb DIR [--method finetune] [--beats detected]
        [--out benchmarks/results/holter_figures.json]

DIR holds MIT-BIH (../shared/data unpacked: mitdb/). For each DS2 record (de Chazal et al. 2004; never seen by the
shipped DS1 population model): ``ecgadapt personalize`` with the shipped model, the first 5 minutes labelled, the
guard on, seed 0. On the minutes after the labelled ones, against the reference annotations: V and S beats per 100
beats, V couplets and runs, and heart rate variability of the N-N intervals (SDNN, RMSSD), from the reference
classes, the population model's and the kept model's (the guard's choice). Nothing here is tuned: the command's
defaults, run once.

Reports every patient's figures and, per figure, the median absolute error of the population and the kept model over
the patients.

``--beats detected``: the Holter with no annotations but the labelled minutes', as a clinic records it. The R peaks
are the detector's; the labelled minutes' detected beats take the class of the annotated beat within 150 ms (a
detection with none is left out, as a cardiologist would delete it). The models' figures are those of the detected
beats after the labelled minutes (from ``beats.csv``; beats in poor signal are left out of the N-N intervals, as the
product does), the reference's those of the annotated beats after them, so that missed beats and false detections
count against the models.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.data import AAMI_CLASSES
from ecgadapt.data.base import read_annotations, read_header
from ecgadapt.holter import holter_summary
from ecgadapt.personalize.engine import personalize_record
from ecgadapt.personalize.population import shipped_model_path
from ecgadapt.protocols import DS2

FIGURES = ("V_per_100", "S_per_100", "V_couplets", "V_runs", "sdnn_ms", "rmssd_ms")


def _figures(totals: dict) -> dict:
    return {f: totals["hrv"][f] if f in totals["hrv"] else totals[f] for f in FIGURES}


def _detected_against_reference(record: Path, out: Path) -> dict[str, dict]:
    """Holter totals after the labelled minutes: the reference's from the annotated beats, the models' from the
    detected beats in ``out/beats.csv``."""
    table = pd.read_csv(out / "beats.csv")
    rest = table[(table.part == "rest") & ~table.signal_gap]
    ann = read_annotations(record)
    beat = ann.beat_mask()
    time_s, reference = ann.sample[beat] / read_header(record).fs, ann.aami()[beat]
    after = time_s > table.time_s[table.part == "labelled"].max()
    figures = {"reference": holter_summary(time_s[after], reference[after], AAMI_CLASSES).totals}
    for who in ("population", "personalized"):
        figures[who] = holter_summary(rest.time_s.to_numpy(), rest[who].to_numpy(), AAMI_CLASSES,
                                      poor_signal=rest.poor_signal.to_numpy(dtype=bool)).totals
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mitdb", type=Path, required=True, help="MIT-BIH Arrhythmia folder")
    ap.add_argument("--method", default="finetune")
    ap.add_argument("--beats", choices=("auto", "detected"), default="auto",
                    help="R peaks: the annotated ones (auto), or the detector's")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/holter_figures.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, progress_bar(True, "patients", len(DS2)) as advance:
        for name in DS2:
            s = personalize_record(shipped_model_path(), args.mitdb / name, Path(tmp) / name, method=args.method,
                                   seed=0, beats=args.beats).summary
            against = s["holter_against_reference"] if args.beats == "auto" else \
                _detected_against_reference(args.mitdb / name, Path(tmp) / name)
            rows.append({"record": name, "kept": s["kept"], "beats": s["beats"],
                         **{f"{who}_{f}": v for who in ("reference", "population", "personalized")
                            for f, v in _figures(against[who]).items()}})
            advance(name)
    errors = {}
    for f in FIGURES:
        ref = np.array([r[f"reference_{f}"] for r in rows], dtype=float)
        errors[f] = {who: float(np.nanmedian(np.abs(np.array([r[f"{who}_{f}"] for r in rows], dtype=float) - ref)))
                     for who in ("population", "personalized")}
    atomic_write_json(args.out, {"records": list(DS2), "method": args.method, "beats": args.beats, "seed": 0,
                                 "labelled_minutes": 5,
                                 "patients": rows, "median_abs_error": errors})
    head = "| record | kept | " + " | ".join(f"{f} ref / pop / pers" for f in FIGURES) + " |"
    print(head + "\n|---|---|" + "---|" * len(FIGURES))
    for r in rows:
        print(f"| {r['record']} | {r['kept']} | " + " | ".join(
            " / ".join("–" if r[f"{who}_{f}"] is None else f"{r[f'{who}_{f}']:g}"
                       for who in ("reference", "population", "personalized")) for f in FIGURES) + " |")
    print("median absolute error (population / personalized):",
          {f: (round(e["population"], 2), round(e["personalized"], 2)) for f, e in errors.items()})


if __name__ == "__main__":
    main()
