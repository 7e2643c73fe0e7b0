"""Two population models on the same validation patients: the candidate's card names them (MIT-BIH DS1 validation
patients plus the patients of each --extra-beats database held out with --extra-validation). Per database: macro F1
(N/S/V/F), VEB and SVEB Se / +P / F1. No test patient is read.

    python benchmarks/population_validation.py --data DIR --candidate runs/pop-svdb/beatnet-mitdb-svdb.pt \
        [--baseline beatnet-mitdb-ds1] [--out benchmarks/results/population_validation.json]

DIR is ../shared/data unpacked (mitdb/, svdb/, samples/cpsc2021_samples/), laid out as the candidate's card names them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt.evaluation import confusion, from_confusion
from ecgadapt.models.io import load_checkpoint
from ecgadapt.personalize.base import BeatSet, predict_beats
from ecgadapt.population.shipped import check_reference, resolve_model
from ecgadapt.population.card import extra_cards
from ecgadapt.population.training import prepare_extra_beats, prepare_for_model, rows_of


def scores(model, beats: BeatSet) -> dict:
    ok = (beats.y >= 0) & (beats.y < 4)
    cm = confusion(beats.y[ok], predict_beats(model, beats).argmax(1)[ok])
    m = from_confusion(cm)
    return {"beats": int(cm.sum()), "macro_f1": m["macro_f1"], "veb_se": m["V"]["se"], "veb_ppv": m["V"]["ppv"],
            "veb_f1": m["V"]["f1"], "sveb_se": m["S"]["se"], "sveb_ppv": m["S"]["ppv"], "sveb_f1": m["S"]["f1"],
            "S_beats": int((beats.y == 1).sum()), "V_beats": int((beats.y == 2).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--candidate", type=Path, required=True)
    ap.add_argument("--baseline", default="beatnet-mitdb-ds1")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/population_validation.json"))
    args = ap.parse_args()
    candidate, meta = load_checkpoint(args.candidate)
    baseline, base_meta = load_checkpoint(resolve_model(args.baseline))
    check_reference(meta, base_meta, args.baseline)  # the two must read the same beats
    mitdb = prepare_for_model(args.data / "mitdb", meta)
    sets = {"mitdb": BeatSet.from_prepared(mitdb, rows_of(mitdb, tuple(meta["val_records"])))}
    for card in extra_cards(meta.get("extra_beats")):
        root = args.data / ("svdb" if card["dataset"] == "svdb" else "samples/cpsc2021_samples")
        extra = prepare_extra_beats(f"{card['dataset']}:{root}", mitdb)
        if card.get("val_records"):
            sets[card["dataset"]] = BeatSet.from_prepared(extra, rows_of(extra, tuple(card["val_records"])))
    result = {"candidate": str(args.candidate), "baseline": args.baseline,
              "validation_patients": {k: sorted({str(p) for p in np.asarray(v.patient)}) for k, v in sets.items()},
              "scores": {name: {"baseline": scores(baseline, beats), "candidate": scores(candidate, beats)}
                         for name, beats in sets.items()}}
    atomic_write_json(args.out, result)
    for name, s in result["scores"].items():
        for who in ("baseline", "candidate"):
            r = s[who]
            print(f"{name:9} {who:9} macro F1 {r['macro_f1']:.3f}  VEB F1 {r['veb_f1']:.3f}  SVEB Se {r['sveb_se']:.3f} "
                  f"+P {r['sveb_ppv']:.3f} F1 {r['sveb_f1']:.3f}  ({r['beats']} beats, S {r['S_beats']}, V {r['V_beats']})")


if __name__ == "__main__":
    main()
