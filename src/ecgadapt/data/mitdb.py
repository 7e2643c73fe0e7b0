"""MIT-BIH Arrhythmia Database (Moody & Mark 2001): 48 half-hour 2-lead records at 360 Hz."""

from __future__ import annotations

from pathlib import Path

from ecgadapt.data.base import (DatasetAdapter, DatasetInfo, PhysioNetSource, annotated_beats_info,
                                read_annotated_signal, register_adapter, rhythm_intervals)
from ecgadapt.data.record import AAMI_CLASSES, Record, RecordRef

#: records with paced beats; AAMI EC57 excludes them from beat-classification protocols
PACED_RECORDS = ("102", "104", "107", "217")
#: the MIT-BIH directory: "Records 201 and 202 came from the same male subject"
SAME_SUBJECT = {"202": "201"}


@register_adapter
class MitdbAdapter(DatasetAdapter):
    name = "mitdb"
    description = "MIT-BIH Arrhythmia Database: 48 records, 2 leads, 360 Hz, beat + rhythm annotations"
    expected_fs = 360.0
    label_names = AAMI_CLASSES
    task = "beats"
    window_labels = "rhythm"
    physionet = PhysioNetSource("mitdb", "1.0.0", "ODC-By 1.0")
    beat_leads = ("MLII",)

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        listing = root / "RECORDS"
        if listing.is_file():
            names = listing.read_text().split()
        else:  # a partial download or a hand-made folder: every 3-digit header
            names = sorted(p.stem for p in root.glob("[0-9][0-9][0-9].hea"))
        return [RecordRef("mitdb", n, root / n, subject=SAME_SUBJECT.get(n, n),
                          meta={"paced": n in PACED_RECORDS}) for n in names]

    def load(self, ref: RecordRef) -> Record:
        signal, fs, leads, header, ann = read_annotated_signal(ref.path, self.expected_fs)
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs,
                      leads=leads, path=ref.path, annotations=ann,
                      rhythms=rhythm_intervals(ann, signal.shape[1]),
                      meta={**ref.meta, "comments": header.comments})

    def info(self, root: str | Path) -> DatasetInfo:
        return annotated_beats_info(self, root, self.records(root))
