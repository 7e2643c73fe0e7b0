"""Both axes of a negative-transfer guard, per method, from one `ecgadapt study personalize` run: patients the guarded
method made worse, and patients the unguarded method helped whose personalization the guard refused. A guard that
always keeps the population model makes no patient worse; this shows what it costs.

    python benchmarks/guard_axes.py RUN_DIR [--out RUN_DIR/guard_axes.md]

Reads RUN_DIR/per_patient.csv. Per method: patients; unguarded better / worse (fewer / more misclassified test beats
than the population model); guarded worse; of the patients the unguarded method helped, how many the guard kept; the
patients it refused although the method helped, and those it kept although the method hurt. Then a per-patient table:
population errors, the unguarded and the guarded method's errors, and what the guard kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ecgadapt._atomic import atomic_write_text


def axes(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    summary = ["| method | patients | unguarded: better / worse | guarded: worse | helped, kept by the guard | "
               "helped but refused | hurt but kept |", "|---|---:|---:|---:|---:|---|---|"]
    detail = ["| patient | fold | method | population errors | unguarded errors | guarded errors | kept |",
              "|---|---:|---|---:|---:|---:|---|"]
    for method in dict.fromkeys(table.method):
        if method == "none":
            continue
        t = table[table.method == method]
        off = t[t.variant == "unguarded"].set_index("patient")
        on = t[t.variant == "guarded"].set_index("patient")
        if on.empty:
            continue
        helped = off.index[off.errors < off.population_errors]
        hurt = off.index[off.errors > off.population_errors]
        kept = on.index[on.kept == "personalized"]
        refused = [p for p in helped if p not in set(kept)]
        kept_hurt = [p for p in hurt if p in set(kept)]
        summary.append(f"| {method} | {len(off)} | {len(helped)} / {len(hurt)} | {int(on.worse.sum())} | "
                       f"{len(set(helped) & set(kept))} of {len(helped)} | {', '.join(map(str, refused)) or '–'} | "
                       f"{', '.join(map(str, kept_hurt)) or '–'} |")
        for p in off.index:
            fold = off.at[p, "fold"] if "fold" in off.columns else "–"
            detail.append(f"| {p} | {fold} | {method} | {off.at[p, 'population_errors']} | {off.at[p, 'errors']} | "
                          f"{on.at[p, 'errors']} | {on.at[p, 'kept']} |")
    return summary, detail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    summary, detail = axes(pd.read_csv(args.run / "per_patient.csv", dtype={"patient": str}))
    text = "\n".join(summary + [""] + detail) + "\n"
    atomic_write_text(args.out or args.run / "guard_axes.md", text)
    print("\n".join(summary))


if __name__ == "__main__":
    main()
