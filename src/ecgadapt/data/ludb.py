"""Lobachevsky University Electrocardiography Database (Kalyakulina et al. 2020): 200 ten-second 12-lead records at
500 Hz, one subject each, with P, QRS and T waves delineated by cardiologists in every lead, and each subject's rhythm
and diagnoses in ``ludb.csv``.

The per-lead annotation files (``1.i`` ... ``1.v6``) mark each wave as onset ``(``, peak (``p``, ``N``, ``t``) and
offset ``)``. There ``N`` marks a QRS complex, of whatever kind, not a normal beat, so the waves are given as
``meta["waves"]`` (per lead: onset, peak, offset samples of each P, QRS and T wave) and never as beat labels. A
record's label is its rhythm (the first line of the CSV's rhythm field).
"""

from __future__ import annotations

import collections
import csv
from pathlib import Path

import numpy as np

from ecgadapt.data.base import (DatasetAdapter, DatasetInfo, PhysioNetSource, read_annotations,
                                read_wfdb_signal, register_adapter)
from ecgadapt.data.record import TWELVE_LEADS, Record, RecordRef
from ecgadapt.errors import RecordError

RHYTHMS = ("Sinus rhythm", "Sinus tachycardia", "Sinus bradycardia", "Sinus arrhythmia", "Irregular sinus rhythm",
           "Atrial fibrillation", "Atrial flutter, typical")
LEAD_FILES = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
WAVE_PEAKS = {"p": "P", "N": "QRS", "t": "T"}


def delineation(path: Path, extension: str) -> dict[str, np.ndarray]:
    """One lead's waves: {"P" | "QRS" | "T": int array [n, 3] of onset, peak, offset samples (-1 where the file has
    none, e.g. a wave cut by the record's edge)}."""
    ann = read_annotations(path, extension)
    symbols, samples = list(ann.symbol), ann.sample
    waves: dict[str, list[tuple[int, int, int]]] = {name: [] for name in WAVE_PEAKS.values()}
    for i, symbol in enumerate(symbols):
        if symbol in WAVE_PEAKS:
            onset = int(samples[i - 1]) if i > 0 and symbols[i - 1] == "(" else -1
            offset = int(samples[i + 1]) if i + 1 < len(symbols) and symbols[i + 1] == ")" else -1
            waves[WAVE_PEAKS[symbol]].append((onset, int(samples[i]), offset))
    return {name: np.asarray(rows, dtype=np.int64).reshape(-1, 3) for name, rows in waves.items()}


@register_adapter
class LudbAdapter(DatasetAdapter):
    name = "ludb"
    description = "LUDB: 200 ten-second 12-lead records, 500 Hz, P/QRS/T delineation in every lead, rhythm labels"
    expected_fs = 500.0
    label_names = RHYTHMS
    task = "windows"
    physionet = PhysioNetSource("ludb", "1.0.1", "ODC-By 1.0")
    window_leads = TWELVE_LEADS

    def _table(self, root: Path) -> dict[str, dict[str, str]]:
        table = root / "ludb.csv"
        if not table.is_file():
            return {}
        try:
            with table.open(newline="", encoding="utf-8") as f:
                return {row["ID"].strip(): {k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)}
        except (KeyError, csv.Error, UnicodeDecodeError) as err:
            raise RecordError(table, f"unreadable subject table ({err})") from err

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        table = self._table(root)
        listing = root / "RECORDS"
        paths = [root / line for line in listing.read_text().split()] if listing.is_file() else \
            sorted((p.with_suffix("") for p in (root / "data").glob("*.hea")), key=lambda p: int(p.name)
                   if p.name.isdigit() else p.name)
        refs = []
        for path in paths:
            row = table.get(path.name, {})
            rhythm = row.get("Rhythms", "").splitlines()[0].strip() if row.get("Rhythms") else ""
            refs.append(RecordRef(self.name, path.name, path, subject=path.name, labels=(rhythm,) if rhythm else (),
                                  meta={"sex": row.get("Sex", ""), "age": row.get("Age", ""),
                                        "diagnoses": {k: v for k, v in row.items() if k not in ("ID", "Sex", "Age")
                                                      and v}}))
        return refs

    def load(self, ref: RecordRef) -> Record:
        signal, fs, leads, header = read_wfdb_signal(ref.path, self.expected_fs)
        waves = {lead: delineation(ref.path, lead) for lead in LEAD_FILES
                 if ref.path.with_name(f"{ref.path.name}.{lead}").is_file()}
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs, leads=leads,
                      path=ref.path, labels=ref.labels, meta={**ref.meta, "waves": waves})

    def info(self, root: str | Path) -> DatasetInfo:
        info = super().info(root)
        waves: collections.Counter[str] = collections.Counter()
        for ref in self.records(root):
            for lead in LEAD_FILES:
                if ref.path.with_name(f"{ref.path.name}.{lead}").is_file():
                    try:
                        waves.update({k: len(v) for k, v in delineation(ref.path, lead).items()})
                    except RecordError as err:
                        info.problems.append(str(err))
        info.extra_counts["waves (all leads)"] = {k: waves.get(k, 0) for k in ("QRS", "T", "P")}
        info.notes.append("one record = one subject")
        return info
