"""``ecgadapt review``'s page: each beat to label on a 10-s ECG strip, the beat marked, its neighbours labelled with
the model's classes, and why it was chosen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_text
from ecgadapt.report.html import markdown_page
from ecgadapt.report.plots import plot_strip
from ecgadapt.report.recording import clock

STRIP_S = 10.0


def write_review_report(out: Path, patient: Any, table: pd.DataFrame, classes: list[str], info: dict[str, Any]
                        ) -> Path:
    """``review.html`` (and ``review.md``): ``table`` holds the beats to label (``review.csv``'s new rows),
    ``classes`` the model's class of every beat of ``patient``."""
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    for stale in figs.glob("review_*.png"):  # an earlier review's
        stale.unlink()
    rec, lead = patient.record, patient.beat_lead
    lines = [f"# Beats to label: recording `{rec.name}`", "",
             f"{len(table)} beats chosen by `{info['strategy']}` with the model `{info['model']}` "
             f"({info['already_labelled']} labelled before). Fill the `label` column of `review.csv` (N, S, V, F, Q, or a "
             "MIT-BIH beat symbol; leave it empty where you cannot tell), then run:", "",
             f"    {info['next_command']}", ""]
    lines += [f"- note: {note}" for note in info["notes"]]
    for i, row in enumerate(table.itertuples(), 1):
        path = figs / f"review_{i:03d}.png"
        plot_strip(rec.signal[lead], rec.fs, path, start_s=max(0.0, row.time_s - STRIP_S / 2), seconds=STRIP_S,
                   reference=patient.sample, reference_labels=classes, lead_name=rec.leads[lead],
                   reference_name="the model's class", detected=np.array([int(row.sample)]), detected_name="beat to label",
                   highlight_s=row.sample / rec.fs,
                   title=f"#{i} at {clock(row.time_s)}: the model says {row.predicted} ({row.confidence:.2f})")
        lines += ["", f"## {i}. {clock(row.time_s)} (sample {row.sample})", "", f"Why: {row.reason}.", "",
                  f"![beat {i}](figures/{path.name})"]
    md = "\n".join(lines) + "\n"
    atomic_write_text(out / "review.md", md)
    return atomic_write_text(out / "review.html", markdown_page(f"ecgadapt review: {rec.name}", md, out))
