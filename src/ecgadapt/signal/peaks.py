"""R-peak detection (neurokit2) and its agreement with reference peaks (wfdb.processing, AAMI-style)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np


#: a longer signal is detected an hour at a time (neurokit2 holds several float64 copies of what it is given: about 3
#: GiB for a day at 360 Hz), each hour with this much of its neighbours around it so that its edges are not edges
DETECT_PIECE_S = 3600.0
DETECT_CONTEXT_S = 10.0


#: neurokit2's own detector finds a QRS complex from the gradient's magnitude, then takes its most prominent local
#: maximum as the R peak: a complex that only goes down (a QS complex: a negative lead, V1, an inverted electrode) has
#: none and is dropped. Method "neurokit" here runs it on the signal and on the signal turned over, and adds each
#: complex found only turned over (what it gains: benchmarks/r_peak_detectors.py, figures in BENCHMARKS.md)
BOTH_POLARITIES = frozenset({"neurokit"})
#: neurokit2's detector as it ships, by the name of its neurokit2 method: the recorded DiffECG study's Lorenz plots
#: and the recorded rhythm pre-training were made with it, and keep it so that their commands re-create them
UPRIGHT = {"neurokit-upright": "neurokit"}
#: the methods ecgadapt uses (``signal.quality`` checks the first with the other two)
R_PEAK_METHODS = ("neurokit", "neurokit-upright", "pantompkins1985", "hamilton2002")
#: a complex found turned over is new when no peak found upright lies this near: neurokit2's refractory period
#: (``mindelay``), within which it never reports a second peak either
POLARITY_MERGE_S = 0.3


def detect_r_peaks(x: np.ndarray, fs: float, method: str = "neurokit", piece_s: float = DETECT_PIECE_S) -> np.ndarray:
    """R-peak sample positions in one lead (1-D array) with neurokit2's detector.

    ``method`` is any of neurokit2's ``ecg_peaks`` methods ('neurokit', 'pantompkins1985', 'hamilton2002', ...).
    For 'neurokit', the peaks of complexes that point down are added; 'neurokit-upright' leaves them out, as neurokit2
    does (``BOTH_POLARITIES``). A lead longer than ``piece_s`` is detected a piece at a time from its start
    (``benchmarks/detector_pieces.py`` measures shorter pieces).
    """
    x = np.asarray(x).ravel()  # float64 a piece at a time, in _detect: a day-long lead is 250 MB as float64
    piece, context = int(piece_s * fs), int(DETECT_CONTEXT_S * fs)
    if len(x) <= piece + context:
        return _detect(x, fs, method)
    found: list[np.ndarray] = []
    for start in range(0, len(x), piece):
        lo = max(0, start - context)
        peaks = _detect(x[lo:min(len(x), start + piece + context)], fs, method) + lo
        peaks = peaks[(peaks >= start) & (peaks < start + piece)]  # each piece keeps the peaks of its own hour
        if found and len(found[-1]) and len(peaks) and peaks[0] - found[-1][-1] < 0.2 * fs:
            peaks = peaks[1:]  # the seam's beat found by both pieces, a sample or two apart
        found.append(peaks)
    return np.concatenate(found)


def _detect(x: np.ndarray, fs: float, method: str) -> np.ndarray:
    import neurokit2 as nk  # imported lazily: it is slow to import and only the detector needs it

    x = np.asarray(x, dtype=np.float64)
    rate = int(round(fs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cleaned = nk.ecg_clean(x, sampling_rate=rate, method="neurokit")
        peaks = _peaks(nk, cleaned, rate, UPRIGHT.get(method, method))
        if method in BOTH_POLARITIES:
            cleaned *= -1  # the cleaning filters are linear: this is the turned-over signal cleaned
            down = _peaks(nk, cleaned, rate, method)
            if len(peaks) and len(down):
                down = down[np.abs(peaks[nearest_index(peaks, down)] - down) > POLARITY_MERGE_S * fs]
            peaks = np.concatenate([peaks, down])
    return np.unique(peaks[(peaks >= 0) & (peaks < len(x))])


def _peaks(nk: Any, cleaned: np.ndarray, rate: int, method: str) -> np.ndarray:
    _, info = nk.ecg_peaks(cleaned, sampling_rate=rate, method=method, correct_artifacts=False)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def nearest_index(sorted_ref: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of the nearest element of the sorted, non-empty ``sorted_ref`` for every query value."""
    right = np.clip(np.searchsorted(sorted_ref, query), 0, len(sorted_ref) - 1)
    left = np.clip(right - 1, 0, len(sorted_ref) - 1)
    return np.where(np.abs(sorted_ref[left] - query) <= np.abs(sorted_ref[right] - query), left, right)


@dataclass
class PeakAgreement:
    tp: int
    fp: int
    fn: int

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    def __add__(self, other: PeakAgreement) -> PeakAgreement:
        return PeakAgreement(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def peak_agreement(reference: np.ndarray, detected: np.ndarray, fs: float, tolerance_s: float = 0.150) -> PeakAgreement:
    """Match detected to reference peaks within ``tolerance_s`` (one-to-one) with wfdb's Comparitor."""
    from wfdb.processing import compare_annotations

    reference = np.asarray(reference, dtype=np.int64)
    detected = np.asarray(detected, dtype=np.int64)
    if len(reference) == 0 or len(detected) == 0:
        return PeakAgreement(0, len(detected), len(reference))
    cmp = compare_annotations(reference, detected, int(round(tolerance_s * fs)))
    return PeakAgreement(tp=int(cmp.tp), fp=int(cmp.fp), fn=int(cmp.fn))
