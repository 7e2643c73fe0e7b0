"""PhysioNet/CinC Challenge 2017: single-lead AF classification, 300 Hz, 9-61 s, labels N/A/O/~."""

from __future__ import annotations

import csv
from pathlib import Path

from ecgadapt.data.base import DatasetAdapter, PhysioNetSource, read_wfdb_signal, register_adapter
from ecgadapt.data.record import Record, RecordRef
from ecgadapt.errors import ConfigError, RecordError

CINC2017_LABELS = ("N", "A", "O", "~")


@register_adapter
class Cinc2017Adapter(DatasetAdapter):
    name = "cinc2017"
    description = "PhysioNet/CinC Challenge 2017: 1 lead, 300 Hz, N (normal) / A (AF) / O (other) / ~ (noisy)"
    expected_fs = 300.0
    label_names = CINC2017_LABELS
    task = "windows"
    physionet = PhysioNetSource("challenge-2017", "1.0.0", "ODC-By 1.0")

    def records(self, root: str | Path) -> list[RecordRef]:
        """The recordings REFERENCE.csv lists; without one, every recording's header in the folder, unlabelled (new
        recordings to classify)."""
        root = self._check_root(root)
        reference = _find_reference(root)
        if reference is None:
            folder = root / "training2017" if (root / "training2017").is_dir() else root
            heads = sorted(folder.glob("*.hea"))
            if not heads:
                raise ConfigError(f"{root}: no REFERENCE.csv and no recording (*.hea) found")
            return [RecordRef("cinc2017", h.stem, h.with_suffix(""), subject=h.stem, labels=()) for h in heads]
        refs = []
        with reference.open(newline="") as f:
            for row in csv.reader(f):
                if not row:
                    continue
                name, label = row[0].strip(), (row[1].strip() if len(row) > 1 else "")
                # each CinC 2017 recording comes from a different patient (no patient ids are published)
                refs.append(RecordRef("cinc2017", name, reference.parent / name, subject=name, labels=(label,),
                                      meta={"reference": str(reference)}))
        return refs

    def load(self, ref: RecordRef) -> Record:
        label = ref.labels[0] if ref.labels else ""
        if ref.labels and label not in CINC2017_LABELS:
            raise RecordError(ref.meta.get("reference", ref.path),
                              f"unknown label code {label!r} for record {ref.name} (expected one of N, A, O, ~)")
        signal, fs, leads, _ = read_wfdb_signal(ref.path, self.expected_fs)
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs,
                      leads=leads or ["ECG"], path=ref.path, labels=(label,) if label else (), meta=dict(ref.meta))


def _find_reference(root: Path) -> Path | None:
    for candidate in (root / "REFERENCE.csv", root / "training2017" / "REFERENCE.csv"):
        if candidate.is_file():
            return candidate
    found = sorted(root.rglob("REFERENCE.csv"))
    return found[0] if found else None
