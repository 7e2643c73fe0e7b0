"""MIT-BIH Noise Stress Test Database (Moody, Muldrow & Mark 1984): half-hour 2-lead records at 360 Hz. Three noise
records (``bw`` baseline wander, ``ma`` muscle artefact, ``em`` electrode motion; channels noise1/noise2, no beats)
and MIT-BIH records 118 and 119 with electrode-motion noise added at SNR 24 to -6 dB (``118e24`` ... ``119e_6``),
annotated with the clean records' beats.

The noisy records are one subject each, the MIT-BIH record they were made from (118 is in de Chazal's DS1, 119 too):
a model trained on DS1 has seen their clean beats. A noise record is no patient: its subject is ``noise-NAME`` and it
has no annotations.
"""

from __future__ import annotations

import re
from pathlib import Path

from ecgadapt.data.base import (DatasetAdapter, DatasetInfo, PhysioNetSource, annotated_beats_info,
                                read_annotated_signal, register_adapter, rhythm_intervals, uncalibrated_leads)
from ecgadapt.data.record import AAMI_CLASSES, Record, RecordRef

NOISE_RECORDS = ("bw", "ma", "em")
_NOISY = re.compile(r"^(\d{3})e(_?\d+)$")  # 118e24, 118e_6: record 118 with noise at SNR 24 dB, -6 dB


def snr_db(name: str) -> float | None:
    """The signal-to-noise ratio a noisy record's name gives (``118e_6`` -> -6.0), None for a noise record."""
    m = _NOISY.match(name)
    return None if m is None else float(m.group(2).replace("_", "-"))


@register_adapter
class NstdbAdapter(DatasetAdapter):
    name = "nstdb"
    description = "MIT-BIH Noise Stress Test Database: noise records bw/ma/em and records 118/119 with noise, 360 Hz"
    expected_fs = 360.0
    label_names = AAMI_CLASSES
    task = "beats"
    window_labels = "rhythm"
    physionet = PhysioNetSource("nstdb", "1.0.0", "ODC-By 1.0")
    beat_leads = ("MLII",)

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        listing = root / "RECORDS"
        names = listing.read_text().split() if listing.is_file() else sorted(p.stem for p in root.glob("*.hea"))
        refs = []
        for n in names:
            m = _NOISY.match(n)
            subject = m.group(1) if m else f"noise-{n}"
            refs.append(RecordRef(self.name, n, root / n, subject=subject,
                                  meta={"noise_record": m is None, "snr_db": snr_db(n)}))
        return refs

    def load(self, ref: RecordRef) -> Record:
        noise = bool(ref.meta.get("noise_record"))
        signal, fs, leads, header, ann = read_annotated_signal(ref.path, self.expected_fs, required=not noise)
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=fs, leads=leads,
                      path=ref.path, annotations=ann,
                      rhythms=rhythm_intervals(ann, signal.shape[1]) if ann is not None else [],
                      meta={**ref.meta, "uncalibrated_leads": uncalibrated_leads(ref.path),
                            "comments": header.comments})

    def info(self, root: str | Path) -> DatasetInfo:
        refs = self.records(root)
        info = annotated_beats_info(self, root, [r for r in refs if not r.meta["noise_record"]],
                                    notes=["noise records (no beats, no patient): " +
                                           (", ".join(r.name for r in refs if r.meta["noise_record"]) or "none"),
                                           "the noisy records are MIT-BIH 118/119 with noise added (DS1 patients)"])
        info.n_records = len(refs)
        return info
