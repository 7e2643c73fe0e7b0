"""Does the false-detection filter ``personalize`` learns hold on the patient's next recording, read by ``annotate``?

    python benchmarks/second_recording.py --mitdb DIR [--records DS2|DS1]
        [--out benchmarks/results/second_recording.json]

DIR holds MIT-BIH (../shared/data unpacked: mitdb/). MIT-BIH has one recording a patient (but 201/202, whose first
5 minutes show no false detection), so each record is cut in two WFDB records: its first 15 minutes, with the
reference annotations, and the rest (about 15 minutes), without any. ``personalize`` runs on the first with the
shipped DS1 model, the first 5 minutes labelled, beats from the R-peak detector (``--beats detected``), seed 0; then
``annotate`` runs with the personalized model on the second, once with the filter the model carries and once
without (``--no-false-detection-filter``). Against the second part's reference annotations (matched within 150 ms,
one to one): the detections with no annotated beat (false detections), the annotated beats found, and the Holter
figures (V per 100 beats, SDNN, RMSSD) of each run against the reference's.

The second part follows the first without a break, the same electrodes and the same day, so this is the best case
for a next recording; one taken days later, the electrodes placed anew, may look less alike. Nothing is tuned:
the commands' defaults, run once.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.data import AAMI_CLASSES
from ecgadapt.data.base import read_annotations
from ecgadapt.holter import holter_summary
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.pipeline.personalize import personalize_record
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.protocols import DS1, DS2
from ecgadapt.signal.peaks import peak_agreement
from ecgadapt.signal.quality import MATCH_TOLERANCE_S

FIRST_MINUTES = 15.0
FIGURES = ("V_per_100", "sdnn_ms", "rmssd_ms")


def split_record(path: Path, folder: Path) -> tuple[Path, Path, np.ndarray, np.ndarray, float]:
    """``path`` cut into ``folder/NAME_first`` (with its annotations) and ``folder/NAME_next`` (none); the next
    part's annotated beats: samples (of the next part) and AAMI classes; and the sampling rate."""
    rec = wfdb.rdrecord(str(path), physical=False)
    ann = wfdb.rdann(str(path), "atr")
    cut = int(round(FIRST_MINUTES * 60 * rec.fs))
    parts = []
    for suffix, lo, hi in (("first", 0, cut), ("next", cut, rec.sig_len)):
        name = f"{path.name}_{suffix}"
        wfdb.wrsamp(name, fs=rec.fs, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal[lo:hi],
                    fmt=rec.fmt, adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(folder))
        if suffix == "first":
            inside = ann.sample < cut
            wfdb.wrann(name, "atr", ann.sample[inside], symbol=list(np.asarray(ann.symbol)[inside]),
                       aux_note=list(np.asarray(ann.aux_note)[inside]), write_dir=str(folder))
        parts.append(folder / name)
    reference = read_annotations(path)
    beat = reference.beat_mask() & (reference.sample >= cut)
    return parts[0], parts[1], reference.sample[beat] - cut, reference.aami()[beat], float(rec.fs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mitdb", type=Path, required=True, help="MIT-BIH Arrhythmia folder")
    ap.add_argument("--records", choices=("DS2", "DS1"), default="DS2",
                    help="DS1: the shipped model's training records (its classes there are in-sample; the filter is "
                         "not)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/second_recording.json"))
    args = ap.parse_args()
    records = DS2 if args.records == "DS2" else DS1
    rows = []
    with tempfile.TemporaryDirectory() as tmp, progress_bar(True, "patients", len(records)) as advance:
        for name in records:
            folder = Path(tmp) / name
            folder.mkdir()
            first, following, ref_sample, ref_class, fs = split_record(args.mitdb / name, folder)
            s = personalize_record(shipped_model_path(), first, folder / "personalized", seed=0,
                                   beats="detected").summary
            check = s["false_detections"] or {}
            row = {"record": name, "filter_learnt": bool(check.get("used")),
                   "false_in_labelled": check.get("false_in_labelled", 0), "check_reason": check.get("reason"),
                   "annotated_beats": int(len(ref_sample))}
            reference = holter_summary(ref_sample / fs, ref_class, AAMI_CLASSES).totals
            row.update({f"reference_{f}": (reference["hrv"] | reference)[f] for f in FIGURES})
            for run, use in (("filter", True), ("all_kept", False)):
                out = folder / run
                info = annotate_record(folder / "personalized" / "personalized.pt", following, out,
                                       beats="detected", false_detection_filter=use).summary
                kept = pd.read_csv(out / "beats.csv")["sample"].to_numpy()
                found = peak_agreement(ref_sample, kept, fs, MATCH_TOLERANCE_S)
                row.update({f"{run}_detections": int(len(kept)), f"{run}_false": found.fp,
                            f"{run}_found": found.tp,
                            **{f"{run}_{f}": (info["holter"].get("hrv", {}) | info["holter"]).get(f) for f in FIGURES}})
                if use:
                    row["removed"] = (info["false_detections"] or {}).get("removed", 0)
            row["true_beats_removed"] = row["all_kept_found"] - row["filter_found"]
            rows.append(row)
            advance(f"{name}: {row['removed']} removed")
    totals = {k: int(sum(r[k] for r in rows)) for k in ("annotated_beats", "all_kept_false", "filter_false",
                                                          "removed", "true_beats_removed")}
    atomic_write_json(args.out, {"records": list(records), "beats": "detected", "seed": 0, "labelled_minutes": 5,
                                 "first_minutes": FIRST_MINUTES, "patients": rows, "totals": totals})
    print("| record | filter learnt | false detections in the next part: all kept -> filter | true beats removed | "
          + " | ".join(f"{f} ref / all kept / filter" for f in FIGURES) + " |")
    print("|---|---|---:|---:|" + "---|" * len(FIGURES))
    for r in rows:
        print(f"| {r['record']} | {'yes' if r['filter_learnt'] else 'no'} | {r['all_kept_false']} -> "
              f"{r['filter_false']} | {r['true_beats_removed']} | " + " | ".join(
                  " / ".join("–" if r[f"{who}_{f}"] is None else f"{r[f'{who}_{f}']:g}"
                             for who in ("reference", "all_kept", "filter")) for f in FIGURES) + " |")
    print("totals:", totals)


if __name__ == "__main__":
    main()
