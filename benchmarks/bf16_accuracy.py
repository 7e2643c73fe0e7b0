"""Does bf16 autocast keep accuracy? The same training run in fp32 and in bf16 (same seed, same data), compared on
the validation split and timed.

    python benchmarks/bf16_accuracy.py --data DIR [--out benchmarks/results/bf16_accuracy.json]

Data: MIT-BIH beats (DIR/mitdb), the shipped population setting: beatnet on DS1 minus the validation records,
selected on DS1_VALIDATION, 6 epochs; and resnet1d18 on CinC 2017 10 s windows (DIR/challenge2017/training2017,
patient-split seed 0; the first 2,000 training windows), 4 epochs. Seeds 0 and 1 unless --seeds.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt.protocols import DS1
from ecgadapt.population.training import (DS1_VALIDATION, POPULATION_CONFIG, prepare_mitdb_beats,
                                          train_population_model)
from ecgadapt.studies.transfer import DatasetSpec, load_study_data
from ecgadapt.models import create_model
from ecgadapt.train import TrainConfig, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", default="benchmarks/results/bf16_accuracy.json")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1])
    args = ap.parse_args()
    rows = []
    beats = prepare_mitdb_beats(args.data / "mitdb", progress=False)
    cinc = load_study_data(DatasetSpec("cinc2017", "cinc2017", "challenge2017/training2017",
                                       protocol_params={"val": 0.1, "test": 0.1, "seed": 0}), args.data, progress=False)
    for seed in args.seeds:
        for bf16 in (False, True):
            t0 = time.perf_counter()
            _, card = train_population_model(beats, DS1, DS1_VALIDATION, seed=seed, progress=False,
                                             config=replace(POPULATION_CONFIG, epochs=6, patience=6, bf16=bf16))
            rows.append({"task": "beatnet / MIT-BIH DS1 beats", "seed": seed, "bf16": bf16,
                         "val_macro_f1": card["val_aami"]["macro_f1"], "val_accuracy": card["val_aami"]["accuracy"],
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(rows[-1], flush=True)
            model = create_model("resnet1d18", in_leads=1, num_classes=len(cinc.label_names))
            train = cinc.part("train", np.asarray(cinc.splits["train"])[:2000])
            result = fit(model, train, cinc.part("val"), TrainConfig(epochs=4, batch_size=64, lr=1e-3, patience=4,
                                                                     seed=seed, bf16=bf16),
                         label_names=cinc.label_names, progress=False)
            best = result.history[result.best_epoch - 1]
            rows.append({"task": "resnet1d18 / CinC 2017 windows", "seed": seed, "bf16": bf16,
                         "val_macro_f1": best["val_f1_macro"], "val_accuracy": best["val_accuracy"],
                         "seconds": round(result.seconds, 1)})
            print(rows[-1], flush=True)
    atomic_write_json(args.out, {"rows": rows})


if __name__ == "__main__":
    main()
