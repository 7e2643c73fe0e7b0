"""Signal processing that knows nothing of databases: filters, resampling, R peaks, beats, windows, RR."""

from ecgadapt.signal.beats import (IRREGULARITY_HALF_WIDTH, LOCAL_RR_BEATS, RR_FEATURES, fixed_windows, rr_features,
                                   rr_irregularity, segment_beats)
from ecgadapt.signal.filters import bandpass, fill_gaps, preprocess, remove_baseline_median, resample, zscore
from ecgadapt.signal.lorenz import lorenz_points
from ecgadapt.signal.peaks import PeakAgreement, detect_r_peaks, nearest_index, peak_agreement
from ecgadapt.signal.quality import beat_agreement, window_agreement

__all__ = [
    "IRREGULARITY_HALF_WIDTH", "LOCAL_RR_BEATS", "RR_FEATURES", "PeakAgreement", "bandpass", "detect_r_peaks",
    "fill_gaps", "fixed_windows", "lorenz_points", "nearest_index", "peak_agreement", "preprocess",
    "remove_baseline_median", "resample", "rr_features", "rr_irregularity", "segment_beats", "zscore",
    "beat_agreement", "window_agreement",
]
