"""Does a second lead (V1) help the population beat model? MLII alone vs MLII + V1, same records, same seed,
compared on the held-out DS1 validation patients only (the DS2 test patients are not touched).

    python benchmarks/population_leads.py --data DIR/mitdb [--seeds 0 1] [--out benchmarks/results/population_leads.json]

MIT-BIH's second channel is V1 in most records but V2, V4 or V5 in some; records without a V1 channel (and the
paced ones, without MLII) cannot give MLII + V1 beats, so both arms train on the DS1 records that have both leads.
Each arm is the shipped population setting (beatnet, square-root class weights, early stopping on the validation
patients' macro F1).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ecgadapt._atomic import atomic_write_json
from ecgadapt.data import get_adapter, read_header
from ecgadapt.protocols import DS1
from ecgadapt.population.training import (DS1_VALIDATION, POPULATION_CONFIG, prepare_mitdb_beats,
                                          train_population_model)


def records_with(root: Path, leads: tuple[str, ...]) -> tuple[str, ...]:
    have = {}
    for ref in get_adapter("mitdb").records(root):
        have[ref.name] = {name.upper() for name in read_header(ref.path).sig_name}
    return tuple(r for r in DS1 if r in have and {lead.upper() for lead in leads} <= have[r])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="MIT-BIH folder")
    ap.add_argument("--out", default="benchmarks/results/population_leads.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    records = records_with(args.data, ("MLII", "V1"))
    missing = sorted(set(DS1_VALIDATION) - set(records))
    if missing:
        raise SystemExit(f"validation records {missing} lack MLII or V1: the comparison would not be like for like")
    results = {"records": list(records), "left_out": sorted(set(DS1) - set(records)),
               "validation_records": list(DS1_VALIDATION), "runs": []}
    for seed in args.seeds:
        for name, leads in (("MLII", ("MLII",)), ("MLII+V1", ("MLII", "V1"))):
            results["runs"].append(run_arm(args.data, records, name, leads, seed))
            print(results["runs"][-1], flush=True)
            atomic_write_json(args.out, results)  # a finished arm is kept even if a later one is interrupted


def run_arm(root: Path, records: tuple[str, ...], name: str, leads: tuple[str, ...], seed: int) -> dict:
    # the same beats (and cache) as the study; the model trains on `records` only
    prepared = prepare_mitdb_beats(root, progress=False, leads=leads)
    _, card = train_population_model(prepared, records, DS1_VALIDATION, seed=seed, config=POPULATION_CONFIG,
                                     progress=False)
    v = card["val_aami"]
    return {"arm": name, "seed": seed, "leads": list(leads), "train_beats": card["train_beats"],
            "best_epoch": card["best_epoch"],
            "train_seconds": card["train_seconds"], "macro_f1": v["macro_f1"], "veb_f1": v["V"]["f1"],
            "veb_se": v["V"]["se"], "veb_ppv": v["V"]["ppv"], "sveb_f1": v["S"]["f1"], "sveb_se": v["S"]["se"],
            "sveb_ppv": v["S"]["ppv"], "accuracy": v["accuracy"]}


if __name__ == "__main__":
    main()
