"""Can one two-lead population model also serve records without its second lead? Each checkpoint is scored on its own
validation patients (never a test patient) twice: with all its leads, and with the leads after the first set flat,
as `ecgadapt personalize` feeds a record that lacks them to a model trained with lead dropout.

    python benchmarks/lead_fallback.py --data DIR/mitdb MODEL.pt [MODEL.pt ...] [--out benchmarks/results/lead_fallback.json]

Train the candidates with `ecgadapt population train --data DIR/mitdb --out M.pt --leads MLII,V1 --lead-dropout P`;
the shipped MLII model is a useful reference (`src/ecgadapt/assets/models/beatnet-mitdb-ds1.pt`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt.evaluation import aami_metrics
from ecgadapt.models.io import load_checkpoint
from ecgadapt.population.shipped import model_leads
from ecgadapt.population.training import prepare_for_model, rows_of
from ecgadapt.train import ArrayDataset, predict


def scores(model, data: ArrayDataset) -> dict:
    y = np.asarray(data.y[data.indices])
    v = aami_metrics(y, predict(model, data).argmax(1))
    return {"macro_f1": v["macro_f1"], "veb_f1": v["V"]["f1"], "sveb_f1": v["S"]["f1"], "accuracy": v["accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="MIT-BIH folder")
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--out", default="benchmarks/results/lead_fallback.json")
    args = ap.parse_args()
    results = []
    for path in args.models:
        model, meta = load_checkpoint(path)
        prepared = prepare_for_model(args.data, meta, progress=False)
        rows = rows_of(prepared, tuple(meta["val_records"]))
        rows = rows[np.asarray(prepared.y[rows]) >= 0]
        full = ArrayDataset(np.asarray(prepared.X[rows]), np.asarray(prepared.y[rows]), rr=np.asarray(prepared.arrays["rr"][rows]))
        row = {"model": str(path), "leads": list(model_leads(meta)),
               "lead_dropout": meta.get("prep", {}).get("missing_leads") == "zero", "seed": meta.get("seed"),
               "best_epoch": meta.get("best_epoch"), "val_records": meta["val_records"], "all_leads": scores(model, full)}
        if full.X.shape[1] > 1:
            flat = full.X.copy()
            flat[:, 1:] = 0.0
            row["first_lead_only"] = scores(model, ArrayDataset(flat, full.y, rr=full.rr))
        results.append(row)
        print(row, flush=True)
    atomic_write_json(args.out, results)


if __name__ == "__main__":
    main()
