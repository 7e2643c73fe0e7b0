"""Sampling rates: beat positions follow the ratio the signal was really resampled by (a rounded ratio used to drift the
windows off the R peaks at awkward rates), and a header's rate that is no number, not positive, or no ECG recorder's is
an error naming the header, never wfdb's silent 250 Hz."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from ecgadapt.errors import RecordError
from ecgadapt.models.io import load_checkpoint
from ecgadapt.pipeline.personalize import load_patient
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.signal.filters import resample_ratio


def test_resample_ratio_is_exact_where_it_can_be() -> None:
    assert resample_ratio(128, 360) == Fraction(45, 16) and resample_ratio(200, 360) == Fraction(9, 5)
    assert resample_ratio(360, 360) == 1 and resample_ratio(359.9, 360) == 1  # rounded, within 0.03 %
    r = resample_ratio(16384, 360)
    assert r.denominator <= 1000 and abs(float(r) / (360 / 16384) - 1) < 1e-3


def _windows_at(path: Path, meta: dict) -> np.ndarray:
    return np.asarray(load_patient(path, meta, beats="annotated").beats.X)


@pytest.mark.parametrize("fs, ten_minutes", [(359.9, False), (16384, True)])
def test_beat_windows_stay_on_the_r_peaks_at_awkward_rates(embedded: Path, tmp_path: Path, fs: float,
                                                          ten_minutes: bool) -> None:
    """233 with its header saying 359.9 Hz, and 233 resampled to 16,384 Hz: the windows of the last beats must still be
    the 360-Hz record's windows (the rounded ratio once moved them 0.5 s by minute 30 at 359.9 Hz)."""
    meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))[1]
    minutes = 10 if ten_minutes else 30
    src = wfdb.rdrecord(str(embedded / "233"), sampto=int(360 * 60 * minutes))
    ann = wfdb.rdann(str(embedded / "233"), "atr", sampto=int(360 * 60 * minutes))
    wfdb.wrsamp("clean", fs=360, units=src.units, sig_name=src.sig_name, p_signal=src.p_signal, fmt=["16", "16"],
                adc_gain=[200.0, 200.0], baseline=[0, 0], write_dir=str(tmp_path))
    wfdb.wrann("clean", "atr", ann.sample, symbol=ann.symbol, write_dir=str(tmp_path))
    if fs == 16384:
        ratio = Fraction(16384, 360)
        signal = resample_poly(src.p_signal, ratio.numerator, ratio.denominator, axis=0)
        samples = np.round(ann.sample * 16384 / 360).astype(np.int64)
    else:
        signal, samples = src.p_signal, ann.sample
    wfdb.wrsamp("odd", fs=fs, units=src.units, sig_name=src.sig_name, p_signal=signal, fmt=["16", "16"],
                adc_gain=[200.0, 200.0], baseline=[0, 0], write_dir=str(tmp_path))
    wfdb.wrann("odd", "atr", samples, symbol=ann.symbol, write_dir=str(tmp_path))
    clean, odd = _windows_at(tmp_path / "clean", meta), _windows_at(tmp_path / "odd", meta)
    assert clean.shape == odd.shape
    last = slice(-100, None)  # the last beats, where a drift is largest
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(clean[last], odd[last])]
    assert np.median(corr) > 0.97


@pytest.mark.parametrize("rate, problem", [
    ("nan", "must be a positive number"), ("-360", "must be a positive number"), ("0", "must be a positive number"),
    ("abc", "is not a number"), ("36", "no ECG recorder samples at that rate"),
    ("1000000", "no ECG recorder samples at that rate")])
def test_an_implausible_header_rate_is_an_error_naming_the_header(embedded: Path, tmp_path: Path, rate: str,
                                                                 problem: str) -> None:
    for ext in ("hea", "dat", "atr"):
        shutil.copy(embedded / f"233.{ext}", tmp_path / f"233.{ext}")
    hea = tmp_path / "233.hea"
    hea.write_text(hea.read_text().replace(" 360 ", f" {rate} ", 1))
    meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))[1]
    with pytest.raises(RecordError, match=rf"233\.hea: sampling rate .*{problem}"):
        load_patient(tmp_path / "233", meta)
