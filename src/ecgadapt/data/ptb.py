"""PTB Diagnostic ECG Database: 15-lead 1000 Hz records; the diagnosis ('Reason for admission') per record."""

from __future__ import annotations

from pathlib import Path

from ecgadapt.data.base import (DatasetAdapter, PhysioNetSource, find_records, read_header, read_wfdb_signal,
                                register_adapter)
from ecgadapt.data.record import TWELVE_LEADS, Record, RecordRef
from ecgadapt.errors import RecordError


def reason_for_admission(comments: list[str]) -> str | None:
    for line in comments:
        key, _, value = line.partition(":")
        if key.strip().lower() == "reason for admission" and value.strip() and value.strip() != "n/a":
            return value.strip()
    return None


@register_adapter
class PtbAdapter(DatasetAdapter):
    name = "ptb"
    description = "PTB Diagnostic ECG Database: 15 leads, 1000 Hz, record-level diagnosis when present"
    expected_fs = 1000.0
    task = "windows"
    physionet = PhysioNetSource("ptbdb", "1.0.0", "ODC-By 1.0")
    window_leads = TWELVE_LEADS

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        refs = []
        for path in find_records(root, "s*.hea"):
            try:
                diagnosis = reason_for_admission(read_header(path).comments)
            except RecordError:
                diagnosis = None
            refs.append(RecordRef(self.name, f"{path.parent.name}/{path.name}", path, subject=path.parent.name,
                                  labels=(diagnosis,) if diagnosis else ()))
        return refs

    def load(self, ref: RecordRef) -> Record:
        signal, fs, leads, _ = read_wfdb_signal(ref.path, self.expected_fs)
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs,
                      leads=[lead.upper() for lead in leads],
                      path=ref.path, labels=ref.labels)
