"""The rhythm model personalized per subject, the DiffECG paper's AF protocol: the first 10 % of each subject's time
labelled (its annotated rhythm), the rest scored, population model against personalized, guard on and off.

    python benchmarks/rhythm_personalize.py --data DIR [--out benchmarks/results/rhythm_personalize.json]

DIR is ../shared/data unpacked. Subjects: the MIT-BIH DS2 records with annotated AF (202, 210, 219, 221, 222; 202 is
the same patient as DS1's 201, which the shipped rhythm model was trained on, so it is listed apart), and the CPSC
2021 sample recordings (each recording on its own: the first 10 % of a few minutes is a few windows). Methods
``finetune`` and ``l2sp`` with their default parameters, seed 0; nothing was chosen on these subjects. Scores on the
windows after the labelled time: accuracy over the four classes, and the F1 of AF against the rest (windows labelled
by the rhythm annotation covering most of each). A subject is "worse" when the kept model's AF F1 on the rest is
lower than the population model's (or, with no AF in the rest, its accuracy).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.data.recording import read_recording, read_recording_header
from ecgadapt.rhythm.analysis import rhythm_lead
from ecgadapt.rhythm.model import RHYTHM_CLASSES, load_rhythm_model, resolve_rhythm_model
from ecgadapt.rhythm.personalize import personalize_rhythm, rhythm_windows

LABELLED_SHARE = 0.10
METHODS = ("finetune", "l2sp")
AF = RHYTHM_CLASSES.index("AF")


def scores(y: np.ndarray, pred: np.ndarray) -> dict:
    tp = int(((pred == AF) & (y == AF)).sum())
    n = int((pred == AF).sum() + (y == AF).sum())
    return {"accuracy": round(float((pred == y).mean()), 4), "af_f1": round(2 * tp / n, 4) if n else None,
            "af_windows": int((y == AF).sum()), "windows": int(len(y))}


def subject_rows(path: Path, lead: str | None, model, meta) -> list[dict]:
    head = read_recording_header(path)
    index = head.leads.index(lead) if lead else rhythm_lead(head.leads)
    record = read_recording(head, [index]).record
    windows = rhythm_windows(record, record.leads[0], meta)
    labelled_s = LABELLED_SHARE * record.duration_s
    if not (windows.y[windows.time_s < labelled_s] >= 0).any():  # the first 10 % of a short recording: no window
        return [{"subject": path.name, "method": m, "guard": g, "skipped": f"no labelled window in the first "
                 f"{labelled_s:.0f} s"} for m in METHODS for g in (False, True)]
    rows = []
    for method in METHODS:
        for guard in (False, True):
            t0 = time.perf_counter()
            result = personalize_rhythm(model, windows, labelled_s, method=method, guard=guard)
            rest = ~result.labelled & (windows.y >= 0)
            y = windows.y[rest]
            pop, per = (scores(y, p.argmax(1)[rest]) for p in (result.population_probs, result.personalized_probs))
            key = "af_f1" if pop["af_f1"] is not None else "accuracy"
            rows.append({"subject": path.name, "method": method, "guard": guard, "kept": result.kept,
                         "labelled_windows": int((result.labelled & (windows.y >= 0)).sum()),
                         "labelled_af": int((windows.y[result.labelled] == AF).sum()),
                         "population": pop, "personalized": per,
                         "worse": bool((per[key] or 0) < (pop[key] or 0) - 1e-9),
                         "better": bool((per[key] or 0) > (pop[key] or 0) + 1e-9),
                         "reason": result.decision.reason if result.decision is not None else "guard off",
                         "seconds": round(time.perf_counter() - t0, 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/rhythm_personalize.json"))
    args = ap.parse_args()
    model, meta = load_rhythm_model(resolve_rhythm_model())
    subjects = [(args.data / "mitdb" / name, "MLII") for name in ("202", "210", "219", "221", "222")]
    cpsc = sorted(p.with_suffix("") for p in (args.data / "samples" / "cpsc2021_samples").glob("*.hea"))
    subjects += [(p, "II") for p in cpsc]
    rows = []
    with progress_bar(True, "subjects", len(subjects)) as advance:
        for path, lead in subjects:
            rows += subject_rows(path, lead, model, meta)
            advance(path.name)
    summary = {}
    for method in METHODS:
        for guard in (False, True):
            mine = [r for r in rows if r["method"] == method and r["guard"] == guard and "skipped" not in r]
            for part, chosen in (("mitdb_ds2", [r for r in mine if not r["subject"].startswith("data_")]),
                                 ("cpsc2021", [r for r in mine if r["subject"].startswith("data_")])):
                f1 = lambda who: [r[who]["af_f1"] for r in chosen if r[who]["af_f1"] is not None]  # noqa: E731
                summary[f"{part}/{method}/{'guard' if guard else 'no guard'}"] = {
                    "subjects": len(chosen),
                    "skipped": sorted({r["subject"] for r in rows if "skipped" in r and r["subject"].startswith(
                        "data_") == (part == "cpsc2021")}), "kept_personalized": sum(r["kept"] == "personalized" for r in chosen),
                    "worse": [r["subject"] for r in chosen if r["worse"]],
                    "better": [r["subject"] for r in chosen if r["better"]],
                    "mean_af_f1_population": round(float(np.mean(f1("population"))), 4) if f1("population") else None,
                    "mean_af_f1_personalized": round(float(np.mean(f1("personalized"))), 4) if f1("personalized")
                    else None}
    for k, v in summary.items():
        print(k, json.dumps(v))
    atomic_write_json(args.out, {"command": f"python benchmarks/rhythm_personalize.py --data {args.data}",
                                 "labelled_share": LABELLED_SHARE, "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
