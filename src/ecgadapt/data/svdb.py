"""MIT-BIH Supraventricular Arrhythmia Database (Greenwald 1990): 78 half-hour 2-lead Holter records at 128 Hz, chosen
to supplement MIT-BIH's few supraventricular beats.

Quirks, each handled here: the headers carry no patient data, so one record is taken as one patient; the leads are
named ECG1 (about a modified lead II, the stand-in for MIT-BIH's MLII) and ECG2 (about a modified V2), and electrode
placement is not consistent between records; many headers declare gain 0, which WFDB defines as uncalibrated (read at
the default 200 adu/mV, recorded in the record's ``meta``); supraventricular ectopic beats are annotated ``S`` where
MIT-BIH writes ``A`` (both are AAMI S).
"""

from __future__ import annotations

from pathlib import Path

from ecgadapt.data.base import (DatasetAdapter, DatasetInfo, PhysioNetSource, annotated_beats_info,
                                read_annotated_signal, register_adapter, rhythm_intervals, uncalibrated_leads)
from ecgadapt.data.record import AAMI_CLASSES, Record, RecordRef

ONE_PATIENT_A_RECORD = "one record = one patient (SVDB headers carry no patient data)"


@register_adapter
class SvdbAdapter(DatasetAdapter):
    name = "svdb"
    description = "MIT-BIH Supraventricular Arrhythmia Database: 78 records, 2 Holter leads, 128 Hz, beat annotations"
    expected_fs = 128.0
    label_names = AAMI_CLASSES
    task = "beats"
    window_labels = "rhythm"
    physionet = PhysioNetSource("svdb", "1.0.0", "ODC-By 1.0")
    equivalent_leads = {"MLII": "ECG1", "II": "ECG1"}
    beat_leads = ("ECG1",)

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        listing = root / "RECORDS"
        names = listing.read_text().split() if listing.is_file() else \
            sorted(p.stem for p in root.glob("[0-9][0-9][0-9].hea"))
        return [RecordRef(self.name, n, root / n, subject=n) for n in names]

    def load(self, ref: RecordRef) -> Record:
        signal, fs, leads, header, ann = read_annotated_signal(ref.path, self.expected_fs)
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs, leads=leads,
                      path=ref.path, annotations=ann, rhythms=rhythm_intervals(ann, signal.shape[1]),
                      meta={"uncalibrated_leads": uncalibrated_leads(ref.path), "comments": header.comments})

    def info(self, root: str | Path) -> DatasetInfo:
        return annotated_beats_info(self, root, self.records(root), notes=[ONE_PATIENT_A_RECORD])
