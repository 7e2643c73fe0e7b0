from __future__ import annotations

import numpy as np
import pytest
import wfdb

from ecgadapt.signal import (RR_FEATURES, bandpass, detect_r_peaks, fixed_windows, peak_agreement, resample,
                             rr_features, rr_irregularity, segment_beats, zscore)
from ecgadapt.signal.quality import flat_stretches

from conftest import synthetic_ecg


def test_rr_features_values() -> None:
    peaks = np.array([0, 360, 720, 1260, 1620])  # RR 1, 1, 1.5, 1 s at 360 Hz
    rr = rr_features(peaks, 360.0, local_beats=2)
    np.testing.assert_allclose(rr[:, 0], [1, 1, 1, 1.5, 1])  # pre-RR (first copies its neighbour)
    np.testing.assert_allclose(rr[:, 1], [1, 1, 1.5, 1, 1])  # post-RR
    np.testing.assert_allclose(rr[:, 2], [1, 1, 1, 1.25, 1.25])  # mean of the last 2 pre-RR
    np.testing.assert_allclose(rr[:, 3], 1.125)  # record average
    assert rr.shape == (5, len(RR_FEATURES)) and RR_FEATURES[4] == "rr_irregularity"


def test_rr_irregularity_ignores_an_isolated_premature_beat_but_not_atrial_fibrillation() -> None:
    rng = np.random.default_rng(0)
    sinus = np.full(40, 0.8)
    sinus[20], sinus[21] = 0.45, 1.15  # a premature beat and its pause
    sinus_ectopic = rr_irregularity(sinus)
    assert sinus_ectopic.max() < 1e-6  # the median skips the two differences the premature beat makes itself
    sinus_variation = rr_irregularity(sinus * rng.uniform(0.97, 1.03, 40))  # sinus with 3 % beat-to-beat variation
    fibrillation = rr_irregularity(rng.uniform(0.4, 1.0, 40))
    inner = slice(8, -8)  # away from the ends, where the padding repeats the end interval
    assert sinus_variation[inner].max() < 0.06 and fibrillation[inner].min() > 0.15
    # rr_features appends it as its fifth column (the first four are checked above)
    peaks = np.concatenate([[0], np.cumsum(sinus)]) * 360
    np.testing.assert_allclose(rr_features(peaks, 360)[1:, 4], rr_irregularity(np.concatenate([[sinus[0]], sinus]))[1:],
                               atol=1e-6)


@pytest.mark.shared
def test_rr_irregularity_on_real_atrial_fibrillation(shared_data) -> None:
    """MIT-BIH record 202 (sinus rhythm, then atrial flutter and fibrillation): its normal beats in atrial fibrillation
    are far more irregular around them than its normal beats in sinus rhythm (the real record's rhythm annotations)."""
    from ecgadapt.data import get_adapter

    adapter = get_adapter("mitdb")
    record = adapter.load(next(r for r in adapter.records(shared_data / "mitdb") if r.name == "202"))
    mask = record.annotations.beat_mask()
    peaks, symbols = record.annotations.sample[mask], np.asarray(record.annotations.symbol)[mask]
    irregularity = rr_features(peaks, record.fs)[:, 4]
    in_af = np.zeros(len(peaks), dtype=bool)
    for iv in record.rhythms:
        if iv.label.startswith("(AF"):
            in_af |= (peaks >= iv.start) & (peaks < iv.end)
    normal = symbols == "N"
    assert (normal & in_af).sum() > 500 and (normal & ~in_af).sum() > 500
    assert np.median(irregularity[normal & in_af]) > 3 * np.median(irregularity[normal & ~in_af])


def test_segment_beats_drops_edges_and_centres() -> None:
    x = np.arange(1000, dtype=np.float32)[None, :]
    beats, keep = segment_beats(x, np.array([10, 500, 995]), 100.0, 0.2, 0.3)
    assert keep.tolist() == [False, True, False]
    assert beats.shape == (1, 1, 50) and beats[0, 0, 20] == 500  # the peak sits at before_s * fs


def test_fixed_windows_crop_all_and_short() -> None:
    x = np.zeros((2, 2500), dtype=np.float32)
    w, s = fixed_windows(x, 100, 10)
    assert w.shape == (1, 2, 1000) and s.tolist() == [0]
    w, s = fixed_windows(x, 100, 10, "all")
    assert s.tolist() == [0, 1000]
    w, s = fixed_windows(x[:, :900], 100, 10)
    assert len(w) == 0


def test_resample_polyphase_length() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3600)).astype(np.float32)
    assert resample(x, 360, 100).shape == (2, 1000)
    assert resample(x, 360, 360) is not None and resample(x, 360, 360).shape == (2, 3600)


def test_bandpass_removes_baseline_wander() -> None:
    fs = 360.0
    x, _ = synthetic_ecg(20, fs)
    drift = 2.0 * np.sin(2 * np.pi * 0.1 * np.arange(len(x)) / fs)
    y = bandpass((x + drift)[None, :], fs)[0]
    block_means = y[: len(y) // 1800 * 1800].reshape(-1, 1800).mean(axis=1)  # 5 s blocks
    assert np.abs(block_means).max() < 0.1  # the 2 mV drift is gone
    assert np.abs(y - bandpass(x[None, :], fs)[0]).max() < 0.15  # and the ECG is what it was without it


def test_a_long_signal_is_band_passed_in_pieces_like_a_whole(embedded, monkeypatch) -> None:
    # a day-long lead is filtered 10 minutes at a time (memory): here 233's 30 minutes, both leads, in 1-minute pieces
    import ecgadapt.signal.filters as filters

    x = wfdb.rdrecord(str(embedded / "233")).p_signal.T.astype(np.float32)
    lengths: list[int] = []
    filtfilt = filters._filtfilt
    monkeypatch.setattr(filters, "_filtfilt", lambda sos, part: lengths.append(part.shape[-1]) or filtfilt(sos, part))
    whole = bandpass(x, 360.0)
    assert np.array_equal(whole, filtfilt(_butter(0.5), x)) and lengths == [x.shape[-1]]  # within a piece: one pass
    monkeypatch.setattr(filters, "BANDPASS_PIECE", 360 * 60)
    for low in (0.5, 0.05):  # the margin grows with the filter's slowest response
        lengths.clear()
        pieces = bandpass(x, 360.0, low=low)
        assert len(lengths) == 31 and max(lengths) < 360 * 60 * 2 + (360 * 200 if low < 0.5 else 360 * 30)
        assert pieces.dtype == np.float32 and pieces.shape == x.shape
        assert np.abs(pieces - filtfilt(_butter(low), x)).max() <= 2.5e-7  # float32 rounding, at the seams


def _butter(low: float) -> np.ndarray:
    import scipy.signal

    return scipy.signal.butter(2, [low / 180.0, 40.0 / 180.0], btype="bandpass", output="sos")


@pytest.mark.parametrize("chunk", [8192, 2])  # 2: the beats are cut a few at a time, as a day-long record's are
def test_segment_beats_of_several_leads_are_the_windows_around_each_peak(chunk: int, monkeypatch) -> None:
    monkeypatch.setattr("ecgadapt.signal.beats.SEGMENT_CHUNK", chunk)
    x = np.random.default_rng(0).normal(size=(3, 5000)).astype(np.float32)
    peaks = np.array([5, 100, 2500, 4990, 4000, 3000, 3001])
    beats, keep = segment_beats(x, peaks, 100.0, 0.3, 0.5)
    assert keep.tolist() == [False, True, True, False, True, True, True] and beats.shape == (5, 3, 80)
    for k, p in enumerate(peaks[keep]):
        assert np.array_equal(beats[k], x[:, p - 30:p + 50])


def test_zscore() -> None:
    x = np.random.default_rng(1).normal(3, 5, (2, 500))
    z = zscore(x)
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1, atol=1e-3)
    # in place: the same values in the caller's own float32 array, no copy
    x32 = x.astype(np.float32)
    assert zscore(x32, in_place=True) is x32 and np.array_equal(x32, zscore(x.astype(np.float32)))


def test_detector_on_synthetic_and_agreement() -> None:
    x, peaks = synthetic_ecg(30, 360)
    detected = detect_r_peaks(x, 360)
    agreement = peak_agreement(peaks, detected, 360)
    assert agreement.sensitivity == 1.0 and agreement.ppv == 1.0
    shifted = peak_agreement(peaks, peaks + int(0.2 * 360), 360)  # 200 ms off: outside 150 ms
    assert shifted.tp == 0 and shifted.fn == len(peaks)


@pytest.mark.parametrize("record", ["200", "233"])
def test_detector_on_real_mitdb(embedded, record) -> None:
    from ecgadapt.data import get_adapter

    adapter = get_adapter("mitdb")
    rec = adapter.load(next(r for r in adapter.records(embedded) if r.name == record))
    ann = rec.annotations
    agreement = peak_agreement(ann.sample[ann.beat_mask()], detect_r_peaks(rec.signal[0], rec.fs), rec.fs)
    assert agreement.sensitivity > 0.99 and agreement.ppv > 0.99


def test_complexes_that_point_down_are_detected(embedded) -> None:
    """neurokit2's detector takes a QRS complex's highest local maximum as its R peak, so it drops complexes that only
    go down: 233's V1, and its MLII turned over (an electrode put on the other way round). ecgadapt's "neurokit"
    finds them; "neurokit-upright" is neurokit2's as it ships."""
    from ecgadapt.data import AAMI_MAP

    signal = wfdb.rdrecord(str(embedded / "233")).p_signal
    ann = wfdb.rdann(str(embedded / "233"), "atr")
    reference = ann.sample[np.isin(ann.symbol, list(AAMI_MAP))]
    for lead, sign in ((1, 1.0), (0, -1.0)):
        upright = peak_agreement(reference, detect_r_peaks(sign * signal[:, lead], 360, method="neurokit-upright"), 360)
        both = peak_agreement(reference, detect_r_peaks(sign * signal[:, lead], 360), 360)
        assert upright.sensitivity < 0.97 and both.sensitivity > 0.995 and both.ppv > 0.999
    # upright complexes: the peaks found turned over are the same complexes, not added twice
    upright = peak_agreement(reference, detect_r_peaks(signal[:, 0], 360), 360)
    assert upright.sensitivity > 0.999 and upright.ppv > 0.999


def test_a_real_lead_of_negative_complexes(shared_data) -> None:
    """CinC 2020's Q2428 (CPSC 2018, 10 s): its lead II's QRS complexes point down, and neurokit2 finds 1 of its 8."""
    record = wfdb.rdrecord(str(shared_data / "samples" / "cinc2020_samples" / "mixed" / "Q2428"), channel_names=["II"])
    lead_ii = record.p_signal[:, 0]
    assert len(detect_r_peaks(lead_ii, 500, method="neurokit-upright")) == 1
    found = detect_r_peaks(lead_ii, 500)
    assert len(found) == 8 and np.all(np.diff(found) > 0.3 * 500)
    lead_i = wfdb.rdrecord(str(shared_data / "samples" / "cinc2020_samples" / "mixed" / "Q2428"),
                           channel_names=["I"]).p_signal[:, 0]  # the same beats in lead I, which points up
    assert peak_agreement(detect_r_peaks(lead_i, 500), found, 500).tp == 7


def test_a_long_signal_is_detected_in_pieces_like_a_whole(embedded) -> None:
    # a day-long Holter is detected an hour at a time (memory): here 233's 30 minutes in 5-minute pieces. The beats
    # at the seams must be found once each, where the whole-signal detector finds them
    signal = wfdb.rdrecord(str(embedded / "233"), channels=[0]).p_signal[:, 0]
    whole = detect_r_peaks(signal, 360)
    pieces = detect_r_peaks(signal, 360, piece_s=300.0)
    assert np.all(np.diff(pieces) > 0.2 * 360)  # no beat twice
    same = peak_agreement(whole, pieces, 360, tolerance_s=0.01)
    assert same.fn <= 2 and same.fp <= 2 and same.tp >= len(whole) - 2
    # the pieces lie on a grid from the signal's start: a whole piece's beats are the same in a shorter signal
    first_10_min = pieces[pieces < 600 * 360]
    alone = detect_r_peaks(signal[:int(12.5 * 60 * 360)], 360, piece_s=300.0)
    assert np.array_equal(alone[alone < 600 * 360], first_10_min) and len(first_10_min) > 900


def test_window_agreement_counts_the_beats_two_detectors_share_per_window() -> None:
    from ecgadapt.signal.quality import window_agreement

    fs, n = 100.0, 2500  # windows of 10 s = 1000 samples: three, the last one half
    peaks = np.array([100, 500, 1000, 1500, 2100, 2110])
    other = np.array([110, 512, 1300, 2105])  # 500 vs 512: within 150 ms; 1000/1500 vs 1300: not
    # window 0: 2 shared / 2 + 2 - 2; window 1: 0 shared of 3; window 2: two detections of one beat match one
    assert window_agreement(peaks, other, fs, n).tolist() == [1.0, 0.0, 0.5]
    assert window_agreement(peaks, other, fs, n, tolerance_s=0.11).tolist() == [1 / 3, 0.0, 0.5]  # 500-512 too far
    assert window_agreement([], [], fs, n).tolist() == [1.0, 1.0, 1.0]  # nothing found: nothing to disagree on
    assert window_agreement(peaks, [], fs, n).tolist() == [0.0, 0.0, 0.0]


def test_flat_stretches_are_the_runs_of_one_value_of_a_second_or_more(embedded) -> None:
    x = np.random.default_rng(0).normal(size=4000)
    x[100:460] = 3.0  # exactly 1 s at 360 Hz: a flat line
    x[1000:1359] = 0.0  # one sample short of it: not
    x[3500:] = -1.0  # to the end
    assert flat_stretches(x, 360.0) == [(100, 460), (3500, 4000)]
    assert flat_stretches(np.ones(360), 360.0) == [(0, 360)] and flat_stretches(np.arange(720.0), 360.0) == []
    # real leads vary: no lead of the embedded records holds one value for a second
    for name in ("232", "233"):
        rec = wfdb.rdrecord(str(embedded / name))
        for lead in rec.p_signal.T:
            assert flat_stretches(lead, rec.fs) == []
