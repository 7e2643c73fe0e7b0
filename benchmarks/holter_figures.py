"""Do the figures a Holter report leads with come out right, patient by patient, with and without personalization?

    python benchmarks/holter_figures.py --mitdb DIR [--method finetune] [--beats detected [--keep-all-detections]]
        [--records DS2|DS1] [--out benchmarks/results/holter_figures.json]

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
count against the models. The false detections the labelled minutes show or teach are removed
(``personalize.false_detections``) unless ``--keep-all-detections`` is given.
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
from ecgadapt.pipeline.personalize import personalize_record
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.protocols import DS1, DS2
from ecgadapt.signal.peaks import nearest_index
from ecgadapt.signal.quality import MATCH_TOLERANCE_S

FIGURES = ("V_per_100", "S_per_100", "V_couplets", "V_runs", "sdnn_ms", "rmssd_ms")


def _figures(totals: dict) -> dict:
    return {f: totals["hrv"][f] if f in totals["hrv"] else totals[f] for f in FIGURES}


def _detected_after_labelled(record: Path, out: Path) -> tuple[dict[str, dict], dict[str, int]]:
    """After the labelled minutes: the Holter totals, the reference's from the annotated beats and the models' from the
    detected beats in ``out/beats.csv``; and the detections left there that have no annotated beat within 150 ms, and
    of those the false-detection filter removed there (``out/false_detections.csv``), how many had one (true beats
    lost)."""
    table = pd.read_csv(out / "beats.csv")
    rest = table[(table.part == "rest") & ~table.signal_gap]
    ann = read_annotations(record)
    beat = ann.beat_mask()
    fs = read_header(record).fs
    time_s, reference = ann.sample[beat] / fs, ann.aami()[beat]
    after = time_s > table.time_s[table.part == "labelled"].max()
    figures = {"reference": holter_summary(time_s[after], reference[after], AAMI_CLASSES).totals}
    for who in ("population", "personalized"):
        figures[who] = holter_summary(rest.time_s.to_numpy(), rest[who].to_numpy(), AAMI_CLASSES,
                                      poor_signal=rest.poor_signal.to_numpy(dtype=bool)).totals
    lost = 0
    if (out / "false_detections.csv").exists():
        removed = pd.read_csv(out / "false_detections.csv")
        removed = removed[removed.part == "rest"]["sample"].to_numpy()
        beats = np.sort(ann.sample[beat])
        if len(removed) and len(beats):
            near = np.abs(beats[nearest_index(beats, removed)] - removed)
            lost = int((near <= MATCH_TOLERANCE_S * fs).sum())
    return figures, {"false_detections_left": int(rest.reference.isna().sum()), "true_beats_removed": lost}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mitdb", type=Path, required=True, help="MIT-BIH Arrhythmia folder")
    ap.add_argument("--method", default="finetune")
    ap.add_argument("--beats", choices=("auto", "detected"), default="auto",
                    help="R peaks: the annotated ones (auto), or the detector's")
    ap.add_argument("--records", choices=("DS2", "DS1"), default="DS2",
                    help="DS1: the shipped model's training records, so its figures there are in-sample; only the "
                         "false-detection check's decisions say something there")
    ap.add_argument("--keep-all-detections", action="store_true",
                    help="no false-detection filter (personalize --no-false-detection-filter)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/holter_figures.json"))
    args = ap.parse_args()
    false_detection_filter = not args.keep_all_detections
    rows = []
    records = DS2 if args.records == "DS2" else DS1
    with tempfile.TemporaryDirectory() as tmp, progress_bar(True, "patients", len(records)) as advance:
        for name in records:
            s = personalize_record(shipped_model_path(), args.mitdb / name, Path(tmp) / name, method=args.method,
                                   seed=0, beats=args.beats, false_detection_filter=false_detection_filter).summary
            against, detections = (s["holter_against_reference"], {}) if args.beats == "auto" else \
                _detected_after_labelled(args.mitdb / name, Path(tmp) / name)
            removed = s["false_detections"] or {}
            rows.append({"record": name, "kept": s["kept"], "beats": s["beats"],
                         "false_detection_filter_used": removed.get("used", False),
                         "false_detections_removed": removed.get("removed_labelled", 0) + removed.get("removed_rest", 0),
                         "false_detection_check": {k: removed.get(k) for k in ("false_in_labelled", "fixed", "broken",
                                                                                 "reason")},
                         **detections,
                         **{f"{who}_{f}": v for who in ("reference", "population", "personalized")
                            for f, v in _figures(against[who]).items()}})
            advance(name)
    errors = {}
    for f in FIGURES:
        ref = np.array([r[f"reference_{f}"] for r in rows], dtype=float)
        errors[f] = {who: float(np.nanmedian(np.abs(np.array([r[f"{who}_{f}"] for r in rows], dtype=float) - ref)))
                     for who in ("population", "personalized")}
    atomic_write_json(args.out, {"records": list(records), "method": args.method, "beats": args.beats, "seed": 0,
                                 "false_detection_filter": false_detection_filter,
                                 "labelled_minutes": 5,
                                 "patients": rows, "median_abs_error": errors})
    head = "| record | kept | false detections removed / left / true beats removed | " + " | ".join(f"{f} ref / pop / pers" for f in FIGURES) + " |"
    print(head + "\n|---|---|---:|" + "---|" * len(FIGURES))
    for r in rows:
        print(f"| {r['record']} | {r['kept']} | {r['false_detections_removed']} / {r.get('false_detections_left', '–')} / "
              f"{r.get('true_beats_removed', '–')} | " + " | ".join(
            " / ".join("–" if r[f"{who}_{f}"] is None else f"{r[f'{who}_{f}']:g}"
                       for who in ("reference", "population", "personalized")) for f in FIGURES) + " |")
    print("median absolute error (population / personalized):",
          {f: (round(e["population"], 2), round(e["personalized"], 2)) for f, e in errors.items()})


if __name__ == "__main__":
    main()
