"""Pauses found on detected R peaks against the annotators' pauses, on every MIT-BIH record.

    python benchmarks/pauses.py --mitdb DIR [--out benchmarks/results/pauses.json]

DIR holds MIT-BIH (../shared/data unpacked: mitdb/). A reference pause is an interval of ``holter.PAUSE_S`` (2 s) or
more between two consecutive annotated beats, outside the annotators' ventricular flutter episodes (which have no
beat annotations). For each record, ``load_patient`` with the shipped MLII model's settings and ``--beats detected``
(as ``ecgadapt annotate --beats detected``), then ``holter.pauses`` twice: as the product reports them (no interval
where the signal could not show a beat: poor signal, or another R-peak detector finding a beat inside it,
``signal.quality.beats_inside``), and without the second-detector check. A found pause matches a reference pause
when the two intervals overlap by half the shorter one or more. Counted: reference pauses, found pauses, matched,
per record and in all.

Not a clean evaluation of the second-detector check: it was designed after looking at record 207's false pauses
(61 of 62 held a beat another detector found, before the beats' detector found complexes that point down). Records
without any pause, found or annotated, are left out of the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.data.record import Record
from ecgadapt.errors import RecordError
from ecgadapt.holter import PAUSE_S, pauses
from ecgadapt.models.io import load_checkpoint
from ecgadapt.pipeline.personalize import load_patient
from ecgadapt.pipeline.recording import flutter_stretches
from ecgadapt.population.shipped import shipped_model_path


def reference_pauses(record: Record) -> pd.DataFrame:
    """The annotators' pauses: between their beats, outside their ventricular flutter episodes."""
    ann = record.annotations
    return pauses(ann.sample[ann.beat_mask()] / record.fs, unreadable_s=flutter_stretches(record.rhythms, record.fs))


def matched(found: pd.DataFrame, reference: pd.DataFrame) -> int:
    n = 0
    for r in reference.itertuples():
        overlap = np.minimum(found.end_s, r.end_s) - np.maximum(found.start_s, r.start_s)
        n += bool((overlap >= 0.5 * np.minimum(found.seconds, r.seconds)).any())
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mitdb", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/pauses.json"))
    args = ap.parse_args()
    _, meta = load_checkpoint(shipped_model_path())
    records = sorted(h.stem for h in args.mitdb.glob("[12]*.hea"))
    rows, skipped = [], {}
    with progress_bar(True, "records", len(records)) as advance:
        for name in records:
            try:
                patient = load_patient(args.mitdb / name, meta, beats="detected")
            except RecordError as err:  # 102 and 104 have no MLII
                skipped[name] = str(err)
                advance(name)
                continue
            reference = reference_pauses(patient.record)
            time_s = patient.beats.time_s
            product = pauses(time_s, poor_signal=patient.poor_signal, unreadable_s=patient.unreadable_s)
            unchecked = pauses(time_s, poor_signal=patient.poor_signal, unreadable_s=patient.unseen_s)
            rows.append({"record": name, "reference": len(reference),
                         "found": len(product), "matched": matched(product, reference),
                         "found_unchecked": len(unchecked), "matched_unchecked": matched(unchecked, reference)})
            advance(name)
    table = pd.DataFrame(rows)
    total = table.drop(columns="record").sum().to_dict()
    atomic_write_json(args.out, {"pause_s": PAUSE_S, "records": rows, "total": total, "skipped": skipped})
    shown = table[(table.drop(columns="record") > 0).any(axis=1)]
    print("| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns))
    for row in shown.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")
    print("total", total)


if __name__ == "__main__":
    main()
