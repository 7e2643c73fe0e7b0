"""Lorenz (Poincare) plots of RR intervals."""

from __future__ import annotations

import numpy as np


def lorenz_points(peaks: np.ndarray, fs: float) -> np.ndarray:
    """Points (RR_i, RR_{i+1}) in seconds, shape [n_beats - 2, 2]."""
    rr = np.diff(np.asarray(peaks, dtype=np.float64)) / fs
    return np.stack([rr[:-1], rr[1:]], axis=1) if len(rr) >= 2 else np.zeros((0, 2))


def rr_difference_points(peaks: np.ndarray, fs: float) -> np.ndarray:
    """DiffECG's Lorenz plot: points (RR_i - RR_{i-1}, RR_{i-1} - RR_{i-2}) in seconds; empty below 4 peaks."""
    rr = np.diff(np.asarray(peaks, dtype=np.float64)) / fs
    if len(rr) < 3:
        return np.zeros((0, 2))
    d = np.diff(rr)
    return np.stack([d[1:], d[:-1]], axis=1)
