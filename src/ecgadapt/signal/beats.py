"""Beat and window cutting, and RR-interval features."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: the RR feature columns, in order. A model reads the first ``rr_features`` of them (models from before the
#: irregularity column read 4), so a new column is only ever appended.
RR_FEATURES = ("pre_rr", "post_rr", "local_rr", "average_rr", "rr_irregularity")
#: the beats the local RR averages over
LOCAL_RR_BEATS = 10
#: the RR intervals on each side of a beat that its rhythm irregularity is measured over
IRREGULARITY_HALF_WIDTH = 8


def rr_irregularity(pre_rr: np.ndarray, half_width: int = IRREGULARITY_HALF_WIDTH) -> np.ndarray:
    """Rhythm irregularity around each beat: the median absolute successive difference of the ``2 * half_width + 1``
    pre-RR intervals centred on it, over their median (dimensionless; edges padded with the end values).

    Why: an atrial premature beat and a normal beat in atrial fibrillation both come early; what tells them apart is
    the rhythm around them. The median ignores the two large differences an isolated premature beat makes itself, so
    sinus rhythm with an ectopic beat stays near 0.02-0.05, while atrial fibrillation is ~0.2-0.3 (MIT-BIH 201-203)."""
    pre_rr = np.asarray(pre_rr, dtype=np.float64)
    window = sliding_window_view(np.pad(pre_rr, half_width, mode="edge"), 2 * half_width + 1)
    return np.median(np.abs(np.diff(window, axis=1)), axis=1) / np.maximum(np.median(window, axis=1), 1e-6)


def rr_features(peaks: np.ndarray, fs: float, local_beats: int = LOCAL_RR_BEATS) -> np.ndarray:
    """RR features for every beat, shape [n_beats, 5] (columns ``RR_FEATURES``): pre-RR, post-RR, local and average
    RR in seconds, and the rhythm irregularity around the beat (:func:`rr_irregularity`).

    local RR: mean pre-RR of the last ``local_beats`` beats (this one included); average RR: mean over the
    whole record (the patient average, available offline for a Holter record). The first beat's pre-RR and
    the last beat's post-RR are taken from their neighbours.
    """
    t = np.asarray(peaks, dtype=np.float64) / fs
    n = len(t)
    if n < 2:
        return np.full((n, len(RR_FEATURES)), np.nan, dtype=np.float32)
    rr = np.diff(t)
    pre = np.concatenate([[rr[0]], rr])
    post = np.concatenate([rr, [rr[-1]]])
    cumsum = np.concatenate([[0.0], np.cumsum(pre)])
    idx = np.arange(n)
    start = np.maximum(0, idx - local_beats + 1)
    local = (cumsum[idx + 1] - cumsum[start]) / (idx + 1 - start)
    average = np.full(n, rr.mean())
    return np.stack([pre, post, local, average, rr_irregularity(pre)], axis=1).astype(np.float32)


#: beats cut at a time (their gathered windows are a temporary copy: 8,192 beats of 0.7 s at 360 Hz are 8 MB)
SEGMENT_CHUNK = 8192


def segment_beats(x: np.ndarray, peaks: np.ndarray, fs: float, before_s: float, after_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Windows [n_kept, leads, before+after] around each peak, and the mask of peaks far enough from the edges."""
    before, after = int(round(before_s * fs)), int(round(after_s * fs))
    peaks = np.asarray(peaks, dtype=np.int64)
    keep = (peaks - before >= 0) & (peaks + after <= x.shape[-1])
    kept = peaks[keep]
    if len(kept) == 0:
        return np.zeros((0, x.shape[0], before + after), dtype=np.float32), keep
    # a lead and SEGMENT_CHUNK beats at a time through a strided view of every window: no [beats, width] index array,
    # no transposed copy and no gathered copy of a whole lead's windows, each over a hundred MB for a day-long Holter
    beats = np.empty((len(kept), x.shape[0], before + after), dtype=np.float32)
    for lead in range(x.shape[0]):
        windows = np.lib.stride_tricks.sliding_window_view(x[lead], before + after)
        for start in range(0, len(kept), SEGMENT_CHUNK):
            beats[start:start + SEGMENT_CHUNK, lead, :] = windows[kept[start:start + SEGMENT_CHUNK] - before]
    return beats, keep


def fixed_windows(x: np.ndarray, fs: float, seconds: float, mode: str = "crop", stride_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-length windows [n, leads, seconds*fs] and their start samples.

    mode 'crop': one window from the start (longer records cropped, as in the transfer-learning study);
    mode 'all': consecutive windows with ``stride_s`` (default: no overlap). A record shorter than one
    window yields none (the caller counts it as dropped).
    """
    width = int(round(seconds * fs))
    n = x.shape[-1]
    if n < width:
        return np.zeros((0, x.shape[0], width), dtype=np.float32), np.zeros(0, dtype=np.int64)
    if mode == "crop":
        starts = np.array([0], dtype=np.int64)
    elif mode == "all":
        stride = int(round((stride_s or seconds) * fs))
        starts = np.arange(0, n - width + 1, stride, dtype=np.int64)
    else:
        raise ValueError(f"unknown window mode {mode!r} (use 'crop' or 'all')")
    windows = np.stack([x[:, s:s + width] for s in starts]).astype(np.float32)
    return windows, starts
