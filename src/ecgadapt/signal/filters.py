"""Filters, resampling and amplitude normalisation (scipy.signal), on arrays shaped [leads, samples]."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.ndimage
import scipy.signal


#: a longer signal is band-passed in pieces of this many samples (1.5 h at 360 Hz: a MIT-BIH record is one piece).
#: scipy filters in float64 and holds several copies of what it filters, gigabytes for a day-long lead
BANDPASS_PIECE = 2_000_000


def bandpass(x: np.ndarray, fs: float, low: float = 0.5, high: float = 40.0, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass; the high-pass edge removes baseline wander.

    A signal longer than ``BANDPASS_PIECE`` samples is filtered a piece at a time, each with a margin of the signal
    around it long enough for the filter's response to decay below 1e-9 of its peak (its slowest pole's), so that the
    pieces join into the whole signal's filtering to float32 precision."""
    nyq = fs / 2.0
    high = min(high, 0.95 * nyq)
    sos = scipy.signal.butter(order, [low / nyq, high / nyq], btype="bandpass", output="sos")
    n = x.shape[-1]
    slowest = float(np.max(np.abs(scipy.signal.sos2zpk(sos)[1])))
    margin = int(np.ceil(np.log(1e-9) / np.log(slowest)))  # 0.5 Hz at 360 Hz: 3,361 samples (9 s)
    if n <= BANDPASS_PIECE + 2 * margin:
        return _filtfilt(sos, x)
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, n, BANDPASS_PIECE):
        stop = min(n, start + BANDPASS_PIECE)
        lo, hi = max(0, start - margin), min(n, stop + margin)
        out[..., start:stop] = _filtfilt(sos, x[..., lo:hi])[..., start - lo:stop - lo]
    return out


def _filtfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    padlen = min(x.shape[-1] - 1, 3 * (2 * len(sos) + 1))
    return scipy.signal.sosfiltfilt(sos, x, axis=-1, padlen=padlen).astype(np.float32)


def remove_baseline_median(x: np.ndarray, fs: float, windows_s: tuple[float, float] = (0.2, 0.6)) -> np.ndarray:
    """Baseline wander removal by two cascaded median filters (200 ms then 600 ms; de Chazal et al. 2004)."""
    baseline = x
    for w in windows_s:
        k = int(round(w * fs)) | 1
        baseline = scipy.ndimage.median_filter(baseline, size=(1, k) if x.ndim == 2 else k, mode="nearest")
    return (x - baseline).astype(np.float32)


def resample_ratio(fs_in: float, fs_out: float) -> Fraction:
    """The ratio ``resample`` changes the rate by: fs_out / fs_in as a fraction with a denominator of at most 1000 (a
    polyphase filter's length grows with it). It is exact for the rates of the databases here (128 -> 360 Hz is
    45/16) and close otherwise (16384 -> 360 Hz: 2/91, 0.02 % off; 359.9 -> 360 Hz: 1). Whatever maps sample
    positions into the resampled signal must use this ratio, not fs_out / fs_in: the two differ by up to 1/1000 of
    the record's length, 0.5 s after 30 minutes."""
    if abs(fs_in - fs_out) < 1e-9:
        return Fraction(1)
    return Fraction(fs_out / fs_in).limit_denominator(1000)


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling along the last axis (anti-aliasing included), by ``resample_ratio(fs_in, fs_out)``."""
    ratio = resample_ratio(fs_in, fs_out)
    if ratio == 1:
        return x.astype(np.float32, copy=False)
    return scipy.signal.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)


def zscore(x: np.ndarray, axis: int = -1, eps: float = 1e-6, *, in_place: bool = False) -> np.ndarray:
    """Zero mean, unit variance along ``axis`` (per lead when x is [leads, samples]); ``in_place``: into ``x`` itself
    (a float32 array the caller owns), no copy of a day-long record at all."""
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    if in_place and x.dtype == np.float32:
        x -= mean
        x /= std + eps
        return x
    out = x - mean
    out /= std + eps  # in place: one copy of a day-long record, not two
    return out.astype(np.float32, copy=False)


def preprocess(x: np.ndarray, fs: float, *, target_fs: float | None = None, band: tuple[float, float] | None = (0.5, 40.0),
               baseline: str = "bandpass") -> tuple[np.ndarray, float]:
    """Filter then resample one record. ``baseline``: 'bandpass' (filter only), 'median' (+ median filters), 'none'."""
    if baseline == "median":
        x = remove_baseline_median(x, fs)
    if band is not None and baseline != "none":
        x = bandpass(x, fs, band[0], band[1])
    if target_fs is not None:
        x = resample(x, fs, target_fs)
        fs = target_fs
    return x.astype(np.float32, copy=False), fs


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """Invalid (NaN) samples, e.g. a Holter lead off for a while, linearly interpolated per lead (the nearest valid
    value at the ends) so that filters can run. A lead with no valid sample stays NaN."""
    filled = np.array(x, dtype=np.float32, copy=True)
    t = np.arange(x.shape[-1])
    for lead in np.atleast_2d(filled):  # rows are views: filled in place
        bad = np.isnan(lead)
        if bad.any() and not bad.all():
            lead[bad] = np.interp(t[bad], t[~bad], lead[~bad])
    return filled
