"""Does a live ECG lead ever hold one value for ``FLAT_LINE_S`` (1 s)? What ``ecgadapt.signal.quality.FLAT_LINE_S``
rests on.

    python benchmarks/flat_lines.py --data DIR [--out benchmarks/results/flat_lines.json]

DIR is ../shared/data unpacked. Every WFDB record under it is read as the product reads it
(``read_wfdb_signal``: wfdb, the headers it cannot parse mended, physical units: invalid samples are NaN and never
equal), and in each lead the longest run of one value is measured
(``flat_stretches`` with no minimum). A lead that holds one value throughout is dead (``check_signal`` refuses it)
and is counted apart. ``load_patient`` takes a run of ``FLAT_LINE_S`` or more in a lead the model reads as invalid
samples (a lead off, or a signal beyond the amplifier's range): the threshold must lie above every run in a live lead.
Records it cannot read are listed.
"""

from __future__ import annotations

import argparse
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.data.base import read_wfdb_signal
from ecgadapt.signal.quality import FLAT_LINE_S, flat_stretches

SHOWN = 10


def longest_runs(path: Path) -> tuple[str, list[tuple[str, float | None, float]] | str]:
    """Per lead of the record at ``path``: its name, the longest run of one value in s (None: flat throughout), and
    the value there (digital units are the ADC's: its range's ends show a saturated amplifier); or why it is
    unreadable."""
    try:
        signal, fs, names, _ = read_wfdb_signal(path, check_leads=False)
    except Exception as err:  # noqa: BLE001 - a benchmark lists what it cannot read and goes on
        return str(path), f"{type(err).__name__}: {err}"
    leads = []
    for name, x in zip(names, signal):
        finite = x[np.isfinite(x)]
        if len(finite) and finite.max() == finite.min():
            leads.append((name, None, float(finite[0])))
            continue
        runs = flat_stretches(x, fs, min_s=0.0)
        a, b = max(runs, key=lambda r: r[1] - r[0]) if runs else (0, 1)
        leads.append((name, (b - a) / fs, float(x[a])))
    return str(path), leads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="../shared/data unpacked")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/flat_lines.json"))
    args = ap.parse_args()
    paths = sorted(p.with_suffix("") for p in args.data.rglob("*.hea"))
    results = []
    with Pool(2) as pool, progress_bar(True, "records", len(paths)) as advance:
        for result in pool.imap(longest_runs, paths, chunksize=20):
            results.append(result)
            advance()
    unreadable = {str(Path(p).relative_to(args.data)): why for p, why in results if isinstance(why, str)}
    leads = [(str(Path(p).relative_to(args.data)), name, seconds, value) for p, found in results
             if not isinstance(found, str) for name, seconds, value in found]
    live = sorted((lead for lead in leads if lead[2] is not None), key=lambda lead: -lead[2])
    summary = {"records": len(paths), "readable": len(paths) - len(unreadable), "unreadable": unreadable,
               "leads": len(leads), "flat_throughout": [lead[:2] for lead in leads if lead[2] is None],
               "live_leads": len(live), "flat_line_s": FLAT_LINE_S,
               "live_longest_run_s_percentiles": {str(q): round(float(np.percentile([lead[2] for lead in live], q)), 3)
                                                  for q in (50, 90, 99, 99.9, 100)},
               "live_leads_at_or_over_flat_line_s": sum(lead[2] >= FLAT_LINE_S for lead in live),
               "longest": [{"record": r, "lead": n, "seconds": round(s, 3), "value": v} for r, n, s, v in live[:SHOWN]]}
    atomic_write_json(args.out, summary)
    print(f"{summary['readable']} of {summary['records']} records read; {summary['live_leads']} live leads, "
          f"{len(summary['flat_throughout'])} flat throughout; live leads holding one value for {FLAT_LINE_S:g} s or "
          f"more: {summary['live_leads_at_or_over_flat_line_s']}")
    for row in summary["longest"]:
        print(f"  {row['record']} {row['lead']}: {row['seconds']} s at {row['value']:g}")


if __name__ == "__main__":
    main()
