"""Long-Term AF Database (Petrutiu, Sahakian & Swiryn 2007): 84 two-lead Holter records of 24-25 h at 128 Hz, one
subject each, with paroxysmal or sustained AF; the reference ``.atr`` files carry beats and rhythm changes
("(AFIB", "(N", "(SBR", "(SVTA", ...). The DiffECG paper's per-subject AF personalization data."""

from __future__ import annotations

from pathlib import Path

from ecgadapt.data.base import (DatasetAdapter, PhysioNetSource, find_records, read_annotated_signal,
                                register_adapter, rhythm_intervals)
from ecgadapt.data.record import Record, RecordRef


@register_adapter
class LtafdbAdapter(DatasetAdapter):
    name = "ltafdb"
    description = "Long-Term AF Database: 84 records of 24-25 h, 2 leads, 128 Hz, beat + rhythm annotations"
    expected_fs = 128.0
    label_names = ("N", "AF", "O")
    task = "windows"
    window_labels = "rhythm"
    physionet = PhysioNetSource("ltafdb", "1.0.0", "ODC-By 1.0")

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        listing = root / "RECORDS"
        names = listing.read_text().split() if listing.is_file() else [p.name for p in find_records(root)]
        return [RecordRef(self.name, n, root / n, subject=n) for n in names]  # one record per subject

    def load(self, ref: RecordRef) -> Record:
        signal, fs, leads, header, ann = read_annotated_signal(ref.path, self.expected_fs)
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs, leads=leads,
                      path=ref.path, annotations=ann, rhythms=rhythm_intervals(ann, signal.shape[1]),
                      meta={"comments": header.comments})
