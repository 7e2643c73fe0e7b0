"""Signal quality of detected beats: do R-peak detectors agree? (bSQI; Li, Mark & Clifford 2008)

A detector finds "beats" in anything: ten minutes of Gaussian noise give over 300, and a beat classifier then labels
them. Detectors built differently agree on real QRS complexes and disagree on noise, so the share of beats they
agree on in a window (agreed / found by either) says whether that window holds beats at all. The beats' own detector
(neurokit2's) is compared with Pan-Tompkins's, and where they disagree also with Hamilton's; the better agreement
counts: one detector failing on a patient's morphology is not noise (on MIT-BIH 228, Pan-Tompkins found 1,285 of
about 2,050 beats and agreed with the annotations on fewer than 30 % of the beats in 60 of 181 windows; Hamilton's,
in none).

The threshold was chosen on design data (``benchmarks/signal_quality.py``): the largest of 0.2, 0.3, 0.4, 0.5 that puts
fewer than 0.5 % of the real beats that the detector finds in MIT-BIH DS1 into poor windows. Agreement is low on pure
noise, on rhythms without clear QRS complexes (ventricular flutter in DS1 record 207), and where the beats' own detector
found other waves (P waves) as R peaks and the other two did not (CinC 2020 samples Q0012, Q0077), which is why poor
agreement is reported, not acted on: a flutter episode must not vanish from the output.
"""

from __future__ import annotations

import numpy as np

from ecgadapt.signal.filters import bandpass
from ecgadapt.signal.peaks import DETECT_CONTEXT_S, detect_r_peaks, nearest_index

#: the detectors the beats' own is compared with (neurokit2 method names), in this order: the second only where the
#: first disagrees (see beat_agreement)
SECOND_DETECTORS = ("pantompkins1985", "hamilton2002")
#: agreement is computed over consecutive windows of this length
QUALITY_WINDOW_S = 10.0
#: below this share of agreed beats a window's signal is poor (chosen on MIT-BIH DS1; see above)
POOR_AGREEMENT = 0.5
#: two detections closer than this are the same beat (the AAMI matching window)
MATCH_TOLERANCE_S = 0.150
#: a lead that holds one value this long records no heart: a lead off (a recorder's filler value), or a signal beyond
#: the amplifier's range. A live ECG lead never does (``benchmarks/flat_lines.py``: in the 14,243 leads of the
#: 7,678 records in ../shared that are not flat throughout, the longest run of one value is 0.84 s, CPSC
#: 2021 data_8_3 at the top of its ADC's range, then 0.74 s, MIT-BIH 116 likewise); asystole still shows its noise
FLAT_LINE_S = 1.0


def flat_stretches(x: np.ndarray, fs: float, min_s: float = FLAT_LINE_S) -> list[tuple[int, int]]:
    """(start, stop) samples of each run of at least ``min_s`` over which the 1-D lead ``x`` holds one value."""
    x = np.asarray(x).ravel()
    if len(x) < 2:
        return []
    same = np.empty(len(x) + 1, dtype=np.int8)  # sample i equals sample i - 1 (1 byte a sample: a day-long lead)
    same[0] = same[-1] = 0
    np.equal(x[1:], x[:-1], out=same[1:-1].view(bool))
    edges = np.flatnonzero(np.diff(same))  # pairs: a run's first sample, and its last
    starts, stops = edges[::2], edges[1::2] + 1
    keep = stops - starts >= min_s * fs
    return [(int(a), int(b)) for a, b in zip(starts[keep], stops[keep])]


def window_agreement(peaks: np.ndarray, other: np.ndarray, fs: float, n_samples: int,
                     window_s: float = QUALITY_WINDOW_S, tolerance_s: float = MATCH_TOLERANCE_S) -> np.ndarray:
    """Share of beats two detectors agree on, per consecutive window of ``window_s`` (the last one may be shorter).

    A beat of ``peaks`` is agreed on when ``other`` has a beat within ``tolerance_s`` of it; the share is agreed /
    (beats of ``peaks`` + beats of ``other`` - agreed). A window where neither found a beat has agreement 1 (nothing
    to disagree on)."""
    peaks, other = np.sort(np.asarray(peaks, dtype=np.int64)), np.sort(np.asarray(other, dtype=np.int64))
    width = max(1, int(round(window_s * fs)))
    n_windows = max(1, -(-int(n_samples) // width))
    tolerance = tolerance_s * fs

    def count(p: np.ndarray) -> np.ndarray:
        return np.bincount(np.clip(p // width, 0, n_windows - 1), minlength=n_windows)

    # matched one to one in effect: two detections of one beat by a detector match one beat of the other, not two
    both = np.minimum(count(peaks[_has_neighbour(peaks, other, tolerance)]),
                      count(other[_has_neighbour(other, peaks, tolerance)]))
    either = count(peaks) + count(other) - both
    return np.where(either > 0, both / np.maximum(either, 1), 1.0)


def _has_neighbour(peaks: np.ndarray, other: np.ndarray, tolerance: float) -> np.ndarray:
    """Which of the sorted ``peaks`` have a beat of the sorted ``other`` within ``tolerance`` samples."""
    if not len(peaks) or not len(other):
        return np.zeros(len(peaks), dtype=bool)
    return np.abs(other[nearest_index(other, peaks)] - peaks) <= tolerance


def beat_agreement(x: np.ndarray, fs: float, peaks: np.ndarray, window_s: float = QUALITY_WINDOW_S) -> np.ndarray:
    """For each beat at ``peaks`` (samples of the 1-D lead ``x``, found by another detector): the agreement of its
    window with the first of ``SECOND_DETECTORS``, or with the second where the first's is below ``POOR_AGREEMENT``
    and the second's is higher. The second (Hamilton's, eight times slower: two minutes for a week) runs only over
    the stretches of such windows, with the detector's context around each."""
    peaks = np.asarray(peaks, dtype=np.int64)
    first, second = SECOND_DETECTORS
    per_window = window_agreement(peaks, detect_r_peaks(x, fs, method=first), fs, len(x), window_s)
    width = max(1, int(round(window_s * fs)))
    poor = np.flatnonzero(per_window < POOR_AGREEMENT)
    if len(poor):
        context, found = int(DETECT_CONTEXT_S * fs), []
        for run in np.split(poor, np.flatnonzero(np.diff(poor) > 1) + 1):  # consecutive poor windows
            start, stop = int(run[0]) * width, min(len(x), (int(run[-1]) + 1) * width)
            lo = max(0, start - context)
            found.append(detect_r_peaks(x[lo:min(len(x), stop + context)], fs, method=second) + lo)
        again = window_agreement(peaks, np.unique(np.concatenate(found)), fs, len(x), window_s)
        per_window[poor] = np.maximum(per_window[poor], again[poor])
    return per_window[np.clip(peaks // width, 0, len(per_window) - 1)].astype(np.float32)


def beats_inside(x: np.ndarray, fs: float, intervals: np.ndarray) -> np.ndarray:
    """For each interval (row of start and end sample, both beats of the beats' own detector) of the 1-D lead ``x``:
    the most beats either of ``SECOND_DETECTORS`` finds inside it, more than ``MATCH_TOLERANCE_S`` from both ends. A
    long interval between detected beats where another detector sees a beat is a missed beat, not a pause (on MIT-BIH
    207's detected beats, 4 of its 5 intervals of 2 s or more; the other is one the annotators have no beat in
    either; 61 of 62 before the beats' detector found complexes that point down). The detectors run over the
    intervals with ``DETECT_CONTEXT_S`` around them only, once for intervals whose stretches overlap."""
    intervals = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    found = np.zeros(len(intervals), dtype=np.int64)
    context, tolerance = int(DETECT_CONTEXT_S * fs), MATCH_TOLERANCE_S * fs
    order = np.argsort(intervals[:, 0], kind="stable")
    groups: list[list[int]] = []
    for i in order:  # intervals whose stretches (with context) overlap: one detector run for all of them
        if groups and intervals[i, 0] - context <= intervals[groups[-1], 1].max() + context:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    for group in groups:
        lo = max(0, int(intervals[group, 0].min()) - context)
        hi = min(len(x), int(intervals[group, 1].max()) + context)
        for method in SECOND_DETECTORS:
            peaks = detect_r_peaks(x[lo:hi], fs, method=method) + lo
            for i in group:
                start, end = intervals[i]
                found[i] = max(found[i], int(np.count_nonzero((peaks > start + tolerance) & (peaks < end - tolerance))))
    return found


#: annotated beats of a record's own annotation file lie on QRS complexes: in every annotated record here (MIT-BIH,
#: SVDB, NSTDB down to -6 dB, CPSC 2021) at least 85 % of beats have more QRS-band energy at the beat than midway to
#: the next, and another record's annotations at most 61 % (benchmarks/annotations_on_qrs.py); below this share the
#: annotations are taken to be another record's
ANNOTATIONS_ON_QRS_MIN = 0.75
#: fewer annotated beats than this say too little to judge
ANNOTATIONS_ON_QRS_BEATS = 20


def annotations_on_qrs(lead: np.ndarray, fs: float, beats: np.ndarray, half_width_s: float = 0.06) -> float | None:
    """The share of annotated ``beats`` (samples) whose 5-25 Hz energy (the QRS band) within ``half_width_s`` of the
    beat exceeds that within the same width of the midpoint to the next beat; None with too few beats to judge. Beats
    where there is no signal at either place (a flat line, a gap filled by a straight line) show nothing and are not
    counted."""
    from scipy.ndimage import maximum_filter1d

    h = int(round(half_width_s * fs))
    beats = np.sort(np.asarray(beats, dtype=np.int64))
    beats = beats[(beats >= h) & (beats < len(lead) - h)]
    if len(beats) < ANNOTATIONS_ON_QRS_BEATS or len(lead) < 30:
        return None
    # the project's band-pass, a piece at a time: a day-long lead is not copied to float64 whole
    energy = maximum_filter1d(np.abs(bandpass(lead, fs, 5.0, 25.0)), size=2 * h + 1)
    mids = (beats[:-1] + beats[1:]) // 2
    at_beat, midway = energy[beats[:-1]], energy[mids]
    seen = np.maximum(at_beat, midway) > 1e-6 * max(float(energy.max()), 1e-12)
    if seen.sum() < ANNOTATIONS_ON_QRS_BEATS:
        return None
    return float((at_beat[seen] > midway[seen]).mean())
