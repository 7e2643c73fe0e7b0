"""Should the R-peak detector work on shorter pieces? What ``ecgadapt.signal.peaks.DETECT_PIECE_S`` (1 h) rests on.

    python benchmarks/detector_pieces.py --mitdb DIR [--out benchmarks/results/detector_pieces.json]

DIR is MIT-BIH Arrhythmia (../shared/data unpacked). Only DS1's 22 records are read: the shipped model's training
patients, so nothing here is chosen on a test patient. neurokit2's detector drops a QRS candidate narrower than
0.4 times the mean candidate of all it is given, so what it finds in a stretch depends on the rest of its piece: the
first 5 minutes of a record detected alone or in the whole record can differ. Pieces cut on a fixed grid from the
recording's start (each with ``DETECT_CONTEXT_S`` of its neighbours) would make the beats of every whole piece the
same whichever length of recording is given. For each piece length: agreement with the annotated beats on both leads
(150 ms, as ``benchmarks/r_peak_detectors.py``; pooled, and per record in the JSON), and on lead 0 how many detections in the first 5 minutes differ
(found by one and not the other, to the sample) between the first 15 minutes detected alone and the whole record.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.data import get_adapter
from ecgadapt.protocols import DS1
from ecgadapt.signal.peaks import DETECT_PIECE_S, detect_r_peaks, peak_agreement
from ecgadapt.signal.quality import MATCH_TOLERANCE_S

PIECES_S = (DETECT_PIECE_S, 600.0, 300.0, 120.0, 60.0)
FIRST_S, CROP_S = 300.0, 900.0  # the labelled minutes, and the shorter recording they are detected in


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mitdb", type=Path, required=True, help="MIT-BIH Arrhythmia folder")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/detector_pieces.json"))
    args = ap.parse_args()
    adapter = get_adapter("mitdb")
    records = [adapter.load(ref) for ref in adapter.records(args.mitdb) if ref.name in DS1]
    rows = []
    with progress_bar(True, "piece lengths", len(PIECES_S)) as advance:
        for piece_s in PIECES_S:
            start = time.perf_counter()
            totals, differing, per_record = {}, [], []
            for rec in records:
                reference = rec.annotations.sample[rec.annotations.beat_mask()]
                for lead in (0, 1):
                    found = detect_r_peaks(rec.signal[lead], rec.fs, piece_s=piece_s)
                    agreement = peak_agreement(reference, found, rec.fs, MATCH_TOLERANCE_S)
                    totals[lead] = totals[lead] + agreement if lead in totals else agreement
                    per_record.append({"record": rec.name, "lead": lead, "tp": agreement.tp, "fp": agreement.fp,
                                       "fn": agreement.fn})
                    if lead == 0:
                        whole = found[found < FIRST_S * rec.fs]
                alone = detect_r_peaks(rec.signal[0, :int(CROP_S * rec.fs)], rec.fs, piece_s=piece_s)
                alone = alone[alone < FIRST_S * rec.fs]
                differing.append({"record": rec.name, "in_whole": len(whole),
                                  "differ": len(np.setxor1d(whole, alone))})
            rows.append({"piece_s": piece_s, "seconds": round(time.perf_counter() - start, 1),
                         **{f"lead{lead}": {"sensitivity": a.sensitivity, "ppv": a.ppv, "tp": a.tp, "fp": a.fp,
                                            "fn": a.fn} for lead, a in totals.items()},
                         "first_minutes_differ": sum(d["differ"] for d in differing),
                         "first_minutes_detections": sum(d["in_whole"] for d in differing),
                         "records_differing": [d for d in differing if d["differ"]], "per_record": per_record})
            r = rows[-1]
            print(f"piece {piece_s:6.0f} s: lead 0 Se {r['lead0']['sensitivity']:.4f} PPV {r['lead0']['ppv']:.4f} "
                  f"(FP {r['lead0']['fp']}, FN {r['lead0']['fn']}); lead 1 Se {r['lead1']['sensitivity']:.4f} "
                  f"PPV {r['lead1']['ppv']:.4f} (FP {r['lead1']['fp']}, FN {r['lead1']['fn']}); first 5 min: "
                  f"{r['first_minutes_differ']} of {r['first_minutes_detections']} detections differ in "
                  f"{len(r['records_differing'])} records; {r['seconds']} s")
            advance()
    atomic_write_json(args.out, {"records": list(DS1), "first_s": FIRST_S, "crop_s": CROP_S,
                                 "tolerance_s": MATCH_TOLERANCE_S, "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
