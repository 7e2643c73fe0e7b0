"""CPSC 2019 QRS-detection set: 10 s single-lead 500 Hz ECGs (.mat) with reference R-peak positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ecgadapt.data.base import DatasetAdapter, DatasetInfo, check_signal, register_adapter
from ecgadapt.data.record import Annotations, Record, RecordRef
from ecgadapt.errors import RecordError


@register_adapter
class Cpsc2019Adapter(DatasetAdapter):
    name = "cpsc2019"
    description = "CPSC 2019 QRS detection: 1 lead, 500 Hz, 10 s, reference R peaks (data/*.mat, ref/R_*.mat)"
    expected_fs = 500.0
    task = "peaks"

    def records(self, root: str | Path) -> list[RecordRef]:
        root = self._check_root(root)
        data = root / "data" if (root / "data").is_dir() else root
        return [RecordRef(self.name, p.stem, p.with_suffix(""), subject=p.stem,
                          meta={"ref": str(p.parent.parent / "ref" / f"R_{p.stem.split('_', 1)[-1]}.mat")})
                for p in sorted(data.glob("data_*.mat"))]

    def load(self, ref: RecordRef) -> Record:
        mat = ref.path.with_suffix(".mat")
        ecg = _loadmat(mat, "ecg")
        signal = np.asarray(ecg, dtype=np.float32).reshape(1, -1)
        check_signal(signal, ["ECG"], mat)
        ref_file = Path(ref.meta["ref"])
        peaks = np.asarray(_loadmat(ref_file, "R_peak"), dtype=np.int64).ravel()
        ann = Annotations(sample=peaks, symbol=np.full(len(peaks), "N"), aux=[""] * len(peaks))
        return Record(database=self.name, name=ref.name, subject=ref.subject, signal=signal, fs=self.expected_fs,
                      leads=["ECG"], path=ref.path, annotations=ann)

    def info(self, root: str | Path) -> DatasetInfo:
        # no WFDB headers here: every record is 10 s; count the reference R peaks instead of labels
        refs = self.records(root)
        n_peaks, problems = 0, []
        for ref in refs:
            try:
                n_peaks += _loadmat(Path(ref.meta["ref"]), "R_peak").size
            except RecordError as err:
                problems.append(str(err))
        return DatasetInfo(self.name, Path(root), len(refs), len(refs), 10.0 * len(refs),
                           {"reference R peaks": n_peaks}, problems=problems)


def _loadmat(path: Path, key: str) -> np.ndarray:
    if not path.is_file():
        raise RecordError(path, "file missing")
    try:
        content = scipy.io.loadmat(str(path))
    except Exception as err:  # noqa: BLE001 - scipy raises several types for corrupt files
        raise RecordError(path, f"unreadable .mat ({type(err).__name__}: {err})") from err
    if key not in content:
        raise RecordError(path, f"unreadable .mat (no variable {key!r})")
    return content[key]
