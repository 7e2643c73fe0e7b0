"""A rhythm model over short recordings (CinC 2017 style): one row a recording, its class from all its windows, with
or without reference labels. A bad recording is skipped and reported; the rest go on."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt._progress import progress_bar
from ecgadapt.data.recording import read_recording, read_recording_header
from ecgadapt.errors import EcgAdaptError, RecordError
from ecgadapt.models.registry import EcgModel
from ecgadapt.rhythm.analysis import classify_windows, rhythm_lead
from ecgadapt.rhythm.training import SOURCE_CLASSES

#: the file beside short recordings that may hold their reference classes (CinC 2017's layout: NAME,LABEL)
REFERENCE_FILE = "REFERENCE.csv"


def reference_labels(folder: Path) -> dict[str, str]:
    """The reference class of each recording named in ``folder``/REFERENCE.csv (as rhythm-model classes), if there
    is one; {} otherwise (labels are optional)."""
    path = folder / REFERENCE_FILE
    if not path.is_file():
        return {}
    labels = {}
    with path.open(newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 2 and row[1].strip() in SOURCE_CLASSES:
                labels[row[0].strip()] = SOURCE_CLASSES[row[1].strip()]
    return labels


def predict_recording(path: str | Path, model: EcgModel, meta: dict[str, Any]) -> dict[str, Any]:
    """One recording's rhythm: its class, the class probabilities (the mean of all its windows'), the lead read."""
    head = read_recording_header(path)
    lead = rhythm_lead(head.leads)
    read = read_recording(head, [lead], annotation=None)
    record = read.record
    if read.invalid.all():
        raise RecordError(record.path, "no valid sample in the lead read")
    windows = classify_windows(record.signal[0], record.fs, model, meta, source=record.path)
    probs = windows.recording_probs
    row = {"record": record.name, "path": str(record.path), "rhythm": windows.recording_class,
           "confidence": round(float(probs.max()), 4),
           **{f"p_{c}": round(float(p), 4) for c, p in zip(windows.label_names, probs)},
           "windows": len(windows.probs), "duration_s": round(windows.duration_s, 2), "lead": record.leads[0],
           "padded": windows.padded}
    return row


def predict_recordings(paths: Sequence[Path], model: EcgModel, meta: dict[str, Any], *,
                       labels: dict[str, str] | None = None, progress: bool = True
                       ) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """(one row a recording, the recordings skipped with the reason)."""
    rows, skipped = [], []
    with progress_bar(progress, "rhythm", len(paths)) as advance:
        for path in paths:
            try:
                row = predict_recording(path, model, meta)
            except EcgAdaptError as err:
                skipped.append({"record": str(path), "reason": str(err)})
                advance(f"{Path(path).name}: skipped")
                continue
            if labels:
                row["reference"] = labels.get(row["record"], "")
            rows.append(row)
            advance(row["record"])
    return pd.DataFrame(rows), skipped


def challenge_score(table: pd.DataFrame, classes: Sequence[str] = ("N", "AF", "O")) -> dict[str, Any] | None:
    """Per-class F1 and their mean over ``classes`` (the CinC 2017 score) where references are given; None
    otherwise."""
    if "reference" not in table or not (table.reference != "").any():
        return None
    t = table[table.reference != ""]
    f1 = {}
    for c in classes:
        tp = int(((t.rhythm == c) & (t.reference == c)).sum())
        n = int((t.rhythm == c).sum()) + int((t.reference == c).sum())
        f1[c] = round(2 * tp / n, 4) if n else float("nan")
    return {"recordings": int(len(t)), "f1": f1, "score": round(float(np.nanmean(list(f1.values()))), 4)}
