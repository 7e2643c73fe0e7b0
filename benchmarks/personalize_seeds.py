"""Several seeds of one personalization study, side by side: gross VEB / SVEB F1 and patients made worse per method
and guard setting (each seed's value, their mean and range), and what the labelled minutes could teach at all.

    python benchmarks/personalize_seeds.py RUN_DIR [RUN_DIR ...] [--out benchmarks/results/personalize-ps-seeds.md]

Each RUN_DIR is the output of one `ecgadapt study personalize ... --seed S` (its gross.json, per_patient.csv and
tuning.json are read; nothing is recomputed). On the patient-specific protocol the seed changes the population model
(its weights and which pool patients validate it), so the spread over seeds is the spread the population model adds.

"What the labelled minutes could teach": a patient's S (or V) beats after the labelled minutes can be learnt from
those minutes only if some S (V) beats are in them. The share of all test S beats that belong to patients with fewer
than 3 labelled S beats is therefore a ceiling on the SVEB sensitivity that personalization alone can reach; the rest
has to come from the population model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_text
from ecgadapt.report.personalize_study import GUARD_LABEL

FEW = 3  # fewer labelled beats of a class than this: the labelled minutes do not show the class


def _fmt(values: list[float]) -> str:
    v = np.array([x if x is not None else np.nan for x in values], dtype=float)
    if np.isnan(v).all():
        return "–"
    each = " / ".join("–" if np.isnan(x) else f"{x:.3f}" for x in v)
    return f"{np.nanmean(v):.3f} ({each})"


def seeds_table(runs: list[Path]) -> str:
    gross = {run: json.loads((run / "gross.json").read_text()) for run in runs}
    # the methods every run has (a seed run with fewer methods still compares on those); the others are named below
    shared = set.intersection(*({(g["method"], g["variant"]) for g in gross[run]} for run in runs))
    keys = [(g["method"], g["variant"]) for g in gross[runs[0]] if (g["method"], g["variant"]) in shared]
    partial = sorted({m for run in runs for g in gross[run] for m in [g["method"]] if (m, g["variant"]) not in shared})
    lines = ["| method | guard | VEB F1 mean (per seed) | SVEB F1 mean (per seed) | macro F1 mean (per seed) "
             "| patients worse (per seed) | kept (per seed) |", "|---|---|---|---|---|---|---|"]
    for method, variant in keys:
        rows = [next(g for g in gross[run] if (g["method"], g["variant"]) == (method, variant)) for run in runs]
        worse = " / ".join(f"{r['patients_worse']}" for r in rows)
        kept = " / ".join(f"{r['kept_personalized']}" for r in rows)
        lines.append(f"| {method} | {GUARD_LABEL[variant]} | {_fmt([r['veb_f1'] for r in rows])} "
                     f"| {_fmt([r['sveb_f1'] for r in rows])} | {_fmt([r['macro_f1'] for r in rows])} | {worse} "
                     f"| {kept} |")
    if partial:
        lines += ["", f"Left out (not in every run): {', '.join(partial)}."]
    return "\n".join(lines)


def label_availability(run: Path) -> str:
    table = pd.read_csv(run / "per_patient.csv")
    if "labelled_S" not in table.columns:
        raise SystemExit(f"{run}/per_patient.csv has no labelled class counts (written by an older ecgadapt)")
    per = table.drop_duplicates("patient").set_index("patient")
    lines = []
    for c, name in (("S", "SVEB"), ("V", "VEB")):
        total = per[f"test_{c}"].sum()
        unseen = per[per[f"labelled_{c}"] < FEW]
        share = unseen[f"test_{c}"].sum() / max(total, 1)
        who = ", ".join(f"{p} ({int(n)})" for p, n in unseen[f"test_{c}"].items() if n > 0)
        lines.append(f"- {name}: {int(total)} test {c} beats; {int(unseen[f'test_{c}'].sum())} of them "
                     f"({share:.0%}) belong to patients with fewer than {FEW} labelled {c} beats: {who}. Learning from "
                     f"the labelled minutes alone, {name} Se is at most {1 - share:.2f}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+", help="study output folders, one per seed")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown here too")
    args = ap.parse_args()
    for run in args.runs:
        if not (run / "gross.json").is_file():
            raise SystemExit(f"{run}: no gross.json (not a finished `ecgadapt study personalize` output)")
    val = [json.loads((run / "tuning.json").read_text())["validation_patients"] for run in args.runs]
    text = "\n".join([
        f"Runs: {', '.join(str(r) for r in args.runs)}",
        f"Validation patients per run: {'; '.join(', '.join(v) for v in val)}", "",
        seeds_table(args.runs), "", "What the labelled minutes could teach (first run's patients):",
        label_availability(args.runs[0]), ""])
    print(text)
    if args.out:
        atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
