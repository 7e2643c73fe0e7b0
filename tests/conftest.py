"""Shared fixtures: the real PhysioNet data from ../shared/data (unpacked once) and small broken records."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgadapt.data import embedded_root
from ecgadapt.pipeline.writers import list_writers

#: every output but the HTML report, for tests that do not look at it (rendering it is most of a short run)
PERSONALIZE_NO_REPORT = tuple(w for w in list_writers("personalize") if w != "report")
ANNOTATE_NO_REPORT = tuple(w for w in list_writers("annotate") if w != "report")

REPO = Path(__file__).resolve().parents[1]


def _shared_archive() -> Path:
    return Path(os.environ.get("ECGADAPT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def temporary_cache(tmp_path_factory: pytest.TempPathFactory):
    """Every test prepares into a cache of this session's own, never the user's ~/.cache/ecgadapt (a warm cache there
    would hide slow steps, and a test must not write into a user's home)."""
    patch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("ecgadapt-cache")
    patch.setenv("ECGADAPT_CACHE", str(root))
    yield root
    patch.undo()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets, unpacked into .ecg-data/ (ignored by git) the first time they are needed.

    Outside CI a missing ../shared skips the test; in CI (CI=true) it is an error, so these tests always run there.
    """
    archive = _shared_archive()
    unpack = archive / "unpack"
    if not unpack.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{archive}: shared data missing in CI")
        pytest.skip(f"{archive}: shared data not available")
    dest = Path(os.environ.get("ECGADAPT_DATA_DIR", REPO / ".ecg-data"))
    subprocess.run([str(unpack), str(dest)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def embedded() -> Path:
    return embedded_root("mitdb")


@pytest.fixture(scope="session")
def embedded_beats(embedded: Path, tmp_path_factory: pytest.TempPathFactory):
    """The embedded MIT-BIH records cut into MLII beats the way the population model reads them."""
    from ecgadapt.prepare import default_settings, prepare_dataset

    prepared, _ = prepare_dataset("mitdb", embedded, default_settings("mitdb", "beats"),
                                  cache_root=tmp_path_factory.mktemp("cache"), progress=False)
    return prepared


@pytest.fixture()
def mitdb_copy(tmp_path: Path, embedded: Path) -> Path:
    """A writable MIT-BIH-layout folder with the embedded records 200 and 233 (for breaking them)."""
    root = tmp_path / "mitdb"
    root.mkdir()
    for name in ("200", "233"):
        for ext in ("hea", "dat", "atr"):
            shutil.copy(embedded / f"{name}.{ext}", root / f"{name}.{ext}")
    (root / "RECORDS").write_text("200\n233\n")
    return root


def write_record(folder: Path, name: str, signal: np.ndarray, fs: float, leads: list[str] | None = None,
                 comments: list[str] | None = None, fmt: str = "16") -> Path:
    """Write a small WFDB record (physical units, mV) with wfdb itself; returns the record path."""
    folder.mkdir(parents=True, exist_ok=True)
    leads = leads or [f"ch{i}" for i in range(signal.shape[1])]
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=leads, p_signal=signal, fmt=[fmt] * len(leads),
                adc_gain=[200.0] * len(leads), baseline=[0] * len(leads), comments=comments or [],
                write_dir=str(folder))
    return folder / name


def synthetic_ecg(seconds: float, fs: float, hr_bpm: float = 72.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A crude ECG: Gaussian QRS-like spikes at a fixed rate plus noise. Returns (signal [n], peak samples)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    peaks = np.arange(0.5, seconds - 0.5, 60.0 / hr_bpm)
    x = 0.02 * rng.standard_normal(n)
    for p in peaks:
        x += 1.2 * np.exp(-0.5 * ((t - p) / 0.012) ** 2) - 0.2 * np.exp(-0.5 * ((t - p - 0.03) / 0.015) ** 2)
        x += 0.25 * np.exp(-0.5 * ((t - p - 0.25) / 0.04) ** 2)  # T wave
    return x.astype(np.float64), np.round(peaks * fs).astype(np.int64)


def write_ltafdb_fixture(root: Path, embedded: Path) -> Path:
    """A two-record folder in the Long-Term AF Database layout (not in ../shared): real MIT-BIH 233 signal, 6 min,
    resampled to LTAF's 128 Hz, with its real beat annotations and rhythm changes written by wfdb. The rhythm labels
    are invented for the test (233 has no AF): record "00" is N 0-2 min, AF 2-4 min, N 4-6 min; "01" is AF
    throughout."""
    from scipy.signal import resample_poly

    src = wfdb.rdrecord(str(embedded / "233"), sampto=360 * 360)
    ann = wfdb.rdann(str(embedded / "233"), "atr", sampto=360 * 360)
    signal = resample_poly(src.p_signal, 16, 45, axis=0)  # 360 Hz * 16/45 = 128 Hz
    beats = np.array([s for s in ann.symbol])
    keep = np.isin(beats, ["N", "V", "A", "F", "L", "R", "j", "/"])
    beat_samples = np.round(ann.sample[keep] * 128 / 360).astype(np.int64)
    rhythms = {"00": [(0, "(N"), (128 * 120, "(AFIB"), (128 * 240, "(N")], "01": [(0, "(AFIB")]}
    for name, changes in rhythms.items():
        write_record(root, name, signal, 128.0, leads=["ECG1", "ECG2"])
        samples = np.r_[beat_samples, [s for s, _ in changes]]
        symbols = list(beats[keep]) + ["+"] * len(changes)
        aux = [""] * int(keep.sum()) + [label for _, label in changes]
        order = np.argsort(samples, kind="stable")
        wfdb.wrann(name, "atr", samples[order], symbol=[symbols[i] for i in order],
                   aux_note=[aux[i] for i in order], write_dir=str(root))
    (root / "RECORDS").write_text("00\n01\n")
    return root


@pytest.fixture(scope="session")
def ltafdb_root(tmp_path_factory: pytest.TempPathFactory, embedded: Path) -> Path:
    return write_ltafdb_fixture(tmp_path_factory.mktemp("ltafdb"), embedded)


def pred_beats(record: str | Path):
    """An output ``.pred`` file's beat annotations (``wfdb.rdann``'s Annotation without the rhythm changes, "+",
    that the rhythm step writes beside them)."""
    ann = wfdb.rdann(str(record), "pred")
    keep = np.array([s != "+" for s in ann.symbol], dtype=bool)
    ann.sample = ann.sample[keep]
    ann.symbol = [s for s, k in zip(ann.symbol, keep) if k]
    if ann.aux_note is not None:
        ann.aux_note = [a for a, k in zip(ann.aux_note, keep) if k]
    for name in ("subtype", "chan", "num"):
        value = getattr(ann, name, None)
        if value is not None and len(value) == len(keep):
            setattr(ann, name, np.asarray(value)[keep])
    return ann
