"""The cross-database baseline of `svdb-personalized`: the MIT-BIH-only population model (`beatnet-mitdb-ds1`, never
trained on an SVDB patient) on every SVDB patient, beside the population model of the patient's fold (MIT-BIH DS1 +
the other folds' SVDB patients), on the same beats: each patient's minutes after the first 5.

    python benchmarks/svdb_cross_database.py --data DIR --run RUN_DIR [--out benchmarks/results/svdb_cross_database.json]

DIR is ../shared/data unpacked (mitdb/, svdb/); RUN_DIR an `ecgadapt study personalize --protocol svdb-personalized`
output folder (its folds.json names each fold's patients and model). Gross AAMI figures and per-patient errors.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt.evaluation import confusion, from_confusion
from ecgadapt.models.io import load_checkpoint
from ecgadapt.personalize.base import BeatSet, predict_beats
from ecgadapt.population.shipped import MITDB_ONLY_MODEL, shipped_model_path
from ecgadapt.population.training import prepare_extra_beats, prepare_mitdb_beats, rows_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/svdb_cross_database.json"))
    args = ap.parse_args()
    mitdb_only, _ = load_checkpoint(shipped_model_path(MITDB_ONLY_MODEL))
    svdb = prepare_extra_beats(f"svdb:{args.data / 'svdb'}", prepare_mitdb_beats(args.data / "mitdb"))
    folds = json.loads((args.run / "folds.json").read_text())["folds"]
    gross = {"mitdb-only": np.zeros((5, 5), dtype=np.int64), "fold model": np.zeros((5, 5), dtype=np.int64)}
    patients = {}
    for fold in folds:
        fold_model, _ = load_checkpoint(fold["population_model"])
        for name in fold["test_patients"]:
            beats = BeatSet.from_prepared(svdb, rows_of(svdb, (name,)))
            rest = beats.subset(np.flatnonzero(beats.time_s >= 60 * args.minutes))
            ok = rest.y >= 0
            row = {"fold": fold["fold"]}
            for who, model in (("mitdb-only", mitdb_only), ("fold model", fold_model)):
                cm = confusion(rest.y[ok], predict_beats(model, rest).argmax(1)[ok])
                gross[who] += cm
                row[who] = int(cm[:4].sum() - np.trace(cm[:4, :4]))
            patients[name] = row
    summary = {}
    for who, cm in gross.items():
        m = from_confusion(cm)
        summary[who] = {"veb_se": m["V"]["se"], "veb_ppv": m["V"]["ppv"], "veb_f1": m["V"]["f1"],
                        "sveb_se": m["S"]["se"], "sveb_ppv": m["S"]["ppv"], "sveb_f1": m["S"]["f1"],
                        "errors": int(cm[:4].sum() - np.trace(cm[:4, :4]))}
    atomic_write_json(args.out, {"run": str(args.run), "gross": summary, "patients": patients})
    for who, s in summary.items():
        print(f"{who:11} VEB Se {s['veb_se']:.3f} +P {s['veb_ppv']:.3f} F1 {s['veb_f1']:.3f}  SVEB Se {s['sveb_se']:.3f} "
              f"+P {s['sveb_ppv']:.3f} F1 {s['sveb_f1']:.3f}  errors {s['errors']:,}")
    better = sum(p["fold model"] < p["mitdb-only"] for p in patients.values())
    print(f"fold model fewer errors in {better} of {len(patients)} patients")


if __name__ == "__main__":
    main()
