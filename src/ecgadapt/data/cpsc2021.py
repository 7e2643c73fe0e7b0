"""CPSC 2021 (paroxysmal AF): 2-lead 200 Hz records with (AFIB / (N rhythm intervals in .atr files."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from ecgadapt.data.base import (DatasetAdapter, DatasetInfo, PhysioNetSource, find_records, read_annotations,
                                read_header, read_wfdb_signal, register_adapter, rhythm_intervals)
from ecgadapt.data.record import Record, RecordRef, RhythmInterval
from ecgadapt.errors import RecordError

_NAME = re.compile(r"^data_(\d+)_(\d+)$")
RECORD_CLASSES = {"non atrial fibrillation": "N", "persistent atrial fibrillation": "AFf",
                  "paroxysmal atrial fibrillation": "AFp"}


@register_adapter
class Cpsc2021Adapter(DatasetAdapter):
    name = "cpsc2021"
    description = "CPSC 2021 paroxysmal AF: 2 leads, 200 Hz, AF rhythm intervals"
    expected_fs = 200.0
    label_names = ("N", "AF")
    task = "windows"
    window_labels = "rhythm"
    physionet = PhysioNetSource("cpsc2021", "1.0.0", "CC BY 4.0")
    version = 3  # 2: non-AF records are normal rhythm throughout; 3: so is the part before the first AF onset

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        refs = []
        for path in find_records(root, "data_*.hea"):
            m = _NAME.match(path.name)
            subject = m.group(1) if m else path.name
            refs.append(RecordRef(self.name, path.name, path, subject=subject))
        return refs

    def info(self, root: str | Path) -> DatasetInfo:
        # the record class lives in each header's comment line: count it there (headers only, no signals)
        info = super().info(root)
        counts: dict[str, int] = {}
        for ref in self.records(root):
            try:
                cls = RECORD_CLASSES.get(_comment(read_header(ref.path)), "unlabelled")
            except RecordError:
                continue  # already listed among the problems
            counts[cls] = counts.get(cls, 0) + 1
        return replace(info, class_counts=dict(sorted(counts.items())))

    def load(self, ref: RecordRef) -> Record:
        signal, fs, leads, header = read_wfdb_signal(ref.path, self.expected_fs)
        ann = read_annotations(ref.path, "atr")
        comment = _comment(header)
        record_class = RECORD_CLASSES.get(comment, "")
        rhythms = rhythm_intervals(ann, signal.shape[1])
        # CPSC 2021 marks AF episodes only: "(AFIB" at an onset, "(N" at its end. What precedes the first onset is
        # non-AF, and a non-AF record carries no rhythm annotation at all: normal rhythm ("(N") throughout
        first = rhythms[0].start if rhythms else signal.shape[1]
        if first > 0 and record_class != "":
            rhythms = [RhythmInterval(0, first, "(N"), *rhythms]
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs, leads=leads,
                      path=ref.path, labels=(record_class,) if record_class else (), annotations=ann,
                      rhythms=rhythms, meta={"comment": comment})


def _comment(header) -> str:
    return " ".join(header.comments).strip().lower()
