"""How the check that an annotation file is its record's own (``signal.quality.annotations_on_qrs``) was set.

    python benchmarks/annotations_on_qrs.py --data DIR [--out benchmarks/results/annotations_on_qrs.json]

DIR is ../shared/data unpacked. Every annotated record of MIT-BIH, SVDB, NSTDB and the CPSC 2021 samples, on its first
lead: the share of annotated beats with more QRS-band (5-25 Hz) energy at the beat than midway to the next, with its own
annotations, and with the annotations of the next record in the listing at the same rate (another record's file; the
four NSTDB 118e records share 118's annotations, so their pairs are their own and left out). The threshold
(``ANNOTATIONS_ON_QRS_MIN``) lies between the lowest own share and the highest other share.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import wfdb

from ecgadapt._atomic import atomic_write_json
from ecgadapt.data.record import AAMI_MAP
from ecgadapt.signal.quality import ANNOTATIONS_ON_QRS_MIN, annotations_on_qrs

FOLDERS = ("mitdb", "svdb", "nstdb", "samples/cpsc2021_samples")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/annotations_on_qrs.json"))
    args = ap.parse_args()
    records = [h.with_suffix("") for folder in FOLDERS for h in sorted((args.data / folder).glob("*.hea"))
               if h.with_suffix(".atr").is_file()]
    data = {}
    for path in records:
        rec, ann = wfdb.rdrecord(str(path), channels=[0]), wfdb.rdann(str(path), "atr")
        data[path] = (rec.p_signal[:, 0], float(rec.fs), ann.sample[np.isin(ann.symbol, list(AAMI_MAP))])
    own = {f"{p.parent.name}/{p.name}": annotations_on_qrs(*data[p]) for p in records}
    other = {}
    for i, p in enumerate(records):
        q = records[(i + 1) % len(records)]
        if data[q][1] != data[p][1] or (p.name.startswith("118e") and q.name.startswith("118e")):
            continue
        signal, fs, _ = data[p]
        other[f"{p.parent.name}/{p.name} with {q.name}'s"] = annotations_on_qrs(signal, fs, data[q][2][data[q][2] <
                                                                                                   len(signal)])
    result = {"threshold": ANNOTATIONS_ON_QRS_MIN, "own": own, "another_records": other,
              "own_lowest": min(own.values()), "another_highest": max(other.values())}
    atomic_write_json(args.out, result)
    print(f"{len(own)} records: own annotations, lowest share {result['own_lowest']:.3f} "
          f"({min(own, key=own.get)}); another record's, highest {result['another_highest']:.3f} "
          f"({max(other, key=other.get)}); threshold {ANNOTATIONS_ON_QRS_MIN}")


if __name__ == "__main__":
    main()
