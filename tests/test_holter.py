"""The Holter summary: heart rate and classes hour by hour, couplets and runs of ectopic beats."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from ecgadapt.data import AAMI_CLASSES
from ecgadapt.data.record import AAMI_MAP
from ecgadapt.holter import (ectopic_runs, heart_rate_per_minute, holter_summary, hrv_time_domain, nn_intervals,
                             overlapping, pauses)
from tests.conftest import ANNOTATE_NO_REPORT


def test_runs_couplets_pauses_and_hourly_figures_of_a_constructed_recording() -> None:
    # two hours at 60 bpm; a 4-s pause after beat 31 (a missed beat, or a gap)
    time_s = np.arange(7200, dtype=float)
    time_s[32:] += 3.0
    classes = np.full(7200, "N", dtype="<U1")
    classes[[10, 11]] = "V"  # a couplet
    classes[20:23] = "V"  # a run of three
    classes[30:33] = "V"  # three in a row, but the pause splits them: a couplet and a single beat
    classes[100:104] = "S"  # a run of four
    classes[5000] = "V"
    totals, hourly, runs, per_minute, pause = holter_summary(time_s, classes, AAMI_CLASSES, duration_s=7204.0)
    assert runs[["class", "kind", "first_beat", "beats"]].values.tolist() == [
        ["V", "couplet", 10, 2], ["V", "run", 20, 3], ["V", "couplet", 30, 2], ["S", "run", 100, 4]]
    assert runs.rate_bpm.tolist() == [60.0, 60.0, 60.0, 60.0]
    hrv = totals.pop("hrv")
    assert totals == {"beats": 7200, "start_time": None, "hr_mean": 60.0, "hr_min_minute": 60.0, "hr_max_minute": 60.0,
                      "pauses": 1, "longest_pause_s": 4.0,
                      "V_per_100": round(100 * 9 / 7200, 2), "V_couplets": 2, "V_runs": 1, "V_longest_run": 3,
                      "V_in_poor_signal": 0,
                      "S_per_100": round(100 * 4 / 7200, 2), "S_couplets": 0, "S_runs": 1, "S_longest_run": 4,
                      "S_in_poor_signal": 0, "F_per_100": 0.0, "F_in_poor_signal": 0}
    # beats in poor signal count in the burden all the same, and are counted apart: the ones to check first
    poor = np.zeros(7200, dtype=bool)
    poor[[11, 20, 101, 4000]] = True
    flagged = holter_summary(time_s, classes, AAMI_CLASSES, duration_s=7204.0, poor_signal=poor).totals
    assert (flagged["V_in_poor_signal"], flagged["S_in_poor_signal"]) == (2, 1)
    assert flagged["V_per_100"] == totals["V_per_100"] and flagged["S_per_100"] == totals["S_per_100"]
    # every N-N interval 1 s: no variability; the intervals next to an ectopic beat or the pause are none
    assert hrv["sdnn_ms"] == hrv["rmssd_ms"] == hrv["sdann_ms"] == 0.0 and hrv["mean_nn_ms"] == 1000.0
    assert hrv["nn_intervals"] == 7199 - (3 + 4 + 4 + 5 + 2)  # k ectopic beats in a row take k + 1 intervals
    # the pause is no RR interval of the heart rate; each minute holds 59-60 intervals of 1 s
    assert len(per_minute) == 121 and (per_minute.hr_bpm[:120] == 60.0).all()
    assert np.isnan(per_minute.hr_bpm[120])  # 4 s of the last minute: too few intervals
    # the recording lasts 2 h 4 s: a third hour holds its last 3 beats
    assert hourly.beats.tolist() == [3597, 3600, 3]
    assert hourly.V.tolist() == [8, 1, 0] and hourly.S.tolist() == [4, 0, 0]
    assert hourly.hr_mean.tolist() == [60.0, 60.0, 60.0] and np.isnan(hourly.hr_min[2])  # no full minute there
    # a faster stretch shows in its minute's rate: 30 beats 0.5 s apart at the start of minute 90, which then holds
    # 74 intervals (1 + 29 of 0.5 s + one of 1.5 s + 43 of 1 s) in 60 s: 74 bpm
    fast = np.concatenate([np.arange(0, 5400.0), 5400 + 0.5 * np.arange(30), np.arange(5416.0, 7200)])
    hr = heart_rate_per_minute(fast).hr_bpm.to_numpy()
    assert hr[90] == pytest.approx(74.0) and hr[89] == 60.0 and hr[91] == 60.0
    # an interval over a stretch where a beat may be unseen counts in no heart rate
    assert heart_rate_per_minute(fast, unreadable_s=[(5400.2, 5400.3)]).intervals[90] == 73
    assert ectopic_runs(time_s, classes, "F").empty
    # beats in poor signal: counted run by run (a "run" in noise is a Holter's classic false alarm)
    poor = np.zeros(7200, dtype=bool)
    poor[[11, 21, 99, 100, 101]] = True
    flagged = holter_summary(time_s, classes, AAMI_CLASSES, poor_signal=poor, duration_s=7204.0)
    assert flagged[2].poor_signal_beats.tolist() == [1, 1, 0, 2]
    # N beat 99 in poor signal: the interval before it is no N-N interval now (the one after it, to S beat 100, was not)
    assert flagged[0]["hrv"]["nn_intervals"] == hrv["nn_intervals"] - 1
    assert flagged[1].poor_signal.tolist() == [5, 0, 0]
    assert "poor_signal_beats" not in runs and "poor_signal_beats" in ectopic_runs(time_s, classes, "F", poor_signal=poor)
    # the recording's start time known (here 23:30): hours and runs on the clock too, past midnight the next day's
    on_clock = holter_summary(time_s, classes, AAMI_CLASSES, duration_s=7204.0, start_time=datetime.time(23, 30))
    assert on_clock[1].clock.tolist() == ["23:30:00", "00:30:00", "01:30:00"] and "clock" not in hourly
    assert on_clock[2].clock.tolist() == ["23:30:10", "23:30:20", "23:30:30", "23:31:43"]
    assert on_clock[0] == {**totals, "start_time": "23:30:00", "hrv": hrv}
    assert on_clock.pauses.clock.tolist() == ["23:30:31"]
    # the 4-s interval after beat 31 is a pause, unless the signal could not show a beat in it
    assert pause.to_dict("records") == [{"beat_before": 31, "start_s": 31.0, "end_s": 35.0, "seconds": 4.0}]
    assert hourly.pauses.tolist() == [1, 0, 0]
    assert pauses(time_s, min_s=5.0).empty and pauses(time_s, poor_signal=np.arange(7200) == 32).empty
    assert pauses(time_s, unreadable_s=[(33.0, 34.0)]).empty and len(pauses(time_s, unreadable_s=[(35.0, 40.0)])) == 1


def _reference(record: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beat times, AAMI classes, onset times of the annotators' "(VT" episodes) of a MIT-BIH record."""
    ann = wfdb.rdann(str(record), "atr")
    symbol = np.asarray(ann.symbol)
    beat = np.isin(symbol, list(AAMI_MAP))
    aux = np.asarray([(a or "").strip("\x00") for a in ann.aux_note], dtype=str)
    return (ann.sample[beat] / 360.0, np.array([AAMI_MAP[s] for s in symbol[beat]]),
            ann.sample[np.char.startswith(aux, "(VT")] / 360.0)


def _vt_onsets_found(record: Path) -> tuple[int, int]:
    """(the annotators' VT episodes, of them those starting within 0.5 s of a V run found from the beat labels)."""
    time_s, classes, onsets = _reference(record)
    runs = ectopic_runs(time_s, classes, "V")
    starts = runs.start_s[runs.kind == "run"].to_numpy()
    return len(onsets), sum(bool(len(starts)) and np.min(np.abs(starts - t)) < 0.5 for t in onsets)


def test_the_runs_in_233s_beat_labels_are_the_annotators_vt_episodes(embedded: Path) -> None:
    assert _vt_onsets_found(embedded / "233") == (6, 6)


@pytest.mark.shared
def test_the_runs_in_mitdb_beat_labels_are_the_annotators_vt_episodes(shared_data: Path) -> None:
    found = [_vt_onsets_found(hea.with_suffix("")) for hea in sorted((shared_data / "mitdb").glob("[12]*.hea"))]
    episodes, matched = map(sum, zip(*found))
    # 59 of 61: in 200 and 213 one episode each is two V beats and a fusion beat (F)
    assert (episodes, matched) == (61, 59)


@pytest.mark.shared
def test_runs_in_poor_signal_are_flagged_to_check(shared_data: Path, tmp_path: Path) -> None:
    # 207's detected beats: the runs that hold beats in poor signal (R-peak detectors disagree) are those at or in the
    # annotators' ventricular flutter, whose waves ('!') are no beats of a run; runs.csv and the report say to check
    # them first. The other runs are not flagged
    from ecgadapt.pipeline.annotate import annotate_record
    from ecgadapt.population.shipped import shipped_model_path

    annotate_record(shipped_model_path("beatnet-mitdb-ds1"), shared_data / "mitdb" / "207", tmp_path, beats="detected")
    runs = pd.read_csv(tmp_path / "runs.csv")
    flagged = runs[runs.poor_signal_beats > 0]
    assert 3 <= len(flagged) <= len(runs) // 4
    ann = wfdb.rdann(str(shared_data / "mitdb" / "207"), "atr")
    flutter_waves = ann.sample[np.asarray(ann.symbol) == "!"] / ann.fs
    for r in flagged.itertuples():
        assert ((flutter_waves >= r.start_s - 5) & (flutter_waves <= r.end_s + 5)).any()
    report = (tmp_path / "report.md").read_text()
    assert f"{len(flagged)} of them hold beats in poor signal" in report and "rate (bpm) | beats in poor signal |" in report
    # the totals count the V beats in poor signal apart, in summary.json and the report's table
    totals = json.loads((tmp_path / "summary.json").read_text())["holter"]
    assert totals["V_in_poor_signal"] >= flagged.poor_signal_beats[flagged["class"] == "V"].sum() > 0
    assert "| longest run (beats) | of them in poor signal |" in report
    assert f"| {totals['V_longest_run']} | {totals['V_in_poor_signal']} |" in report


@pytest.mark.shared
def test_a_header_with_a_start_time_puts_the_hours_on_the_clock(shared_data: Path, tmp_path: Path) -> None:
    # CinC 2017's headers give the time of day the recording started (A00001: 05:05:15)
    from ecgadapt.pipeline.annotate import annotate_record
    from ecgadapt.population.shipped import shipped_model_path

    info = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), shared_data / "challenge2017" / "training2017" / "A00001", tmp_path,
                           lead="ECG").summary
    assert info["holter"]["start_time"] == "05:05:15"
    assert pd.read_csv(tmp_path / "hourly.csv").clock.tolist() == ["05:05:15"]
    assert "The recording started at 05:05:15" in (tmp_path / "report.md").read_text()


def test_intervals_overlapping_stretches() -> None:
    lo, hi = np.array([0.0, 10.0, 20.0, 30.0]), np.array([5.0, 15.0, 25.0, 35.0])
    # touching an end is no overlap; a long stretch that starts early still covers a later interval
    stretches = [(5.0, 10.0), (21.0, 22.0), (-100.0, 1.0)]
    assert overlapping(lo, hi, stretches).tolist() == [True, False, True, False]
    assert overlapping(lo, hi, [(12.0, 40.0), (0.5, 0.6)]).tolist() == [True, True, True, True]
    assert not overlapping(lo, hi, []).any()
    rng = np.random.default_rng(0)  # against the plain definition
    starts = np.sort(rng.uniform(0, 1000, 300))
    many = list(zip(starts, starts + rng.uniform(0, 5, 300)))
    lo = np.sort(rng.uniform(0, 1000, 2000))
    hi = lo + rng.uniform(0, 3, 2000)
    plain = np.array([any(a < e and b > s for s, e in many) for a, b in zip(lo, hi)])
    assert np.array_equal(overlapping(lo, hi, many), plain)


def test_heart_rate_variability_by_the_task_force_definitions() -> None:
    # 20 minutes of N beats whose intervals alternate 0.8 and 0.9 s, then 0.7 and 0.75 s; one V beat
    rr = np.concatenate([np.tile([0.8, 0.9], 353), np.tile([0.7, 0.75], 414)])
    time_s = np.concatenate([[0.0], np.cumsum(rr)])
    classes = np.full(len(time_s), "N")
    classes[100] = "V"
    hrv = hrv_time_domain(time_s, classes)
    end, nn, follows = nn_intervals(time_s, classes)
    assert len(nn) == len(rr) - 2 and not follows[99] and follows[100]  # the two intervals around the V beat
    assert hrv["mean_nn_ms"] == round(nn.mean(), 1) and hrv["sdnn_ms"] == round(nn.std(ddof=1), 1)
    # successive differences are 100 ms, then 50 ms (pNN50 counts only those over 50), and one of 100 ms between
    assert hrv["rmssd_ms"] == round(np.sqrt(np.mean(np.diff(nn)[follows[1:]] ** 2)), 1)
    assert hrv["pnn50"] == round(100 * np.mean(np.abs(np.diff(nn)[follows[1:]]) > 50), 2) and 40 < hrv["pnn50"] < 50
    # four 5-minute segments, two at each rate: SDANN from their means, SDNN index from their SDs
    means = [nn[(end >= 300 * k) & (end < 300 * (k + 1))].mean() for k in range(4)]
    assert hrv["sdann_ms"] == round(np.std(means, ddof=1), 1) and hrv["sdann_ms"] > 50
    assert hrv_time_domain(time_s[:2], classes[:2])["sdnn_ms"] is None  # one interval: no deviation
    # an interval over a stretch where a beat may be unseen (a signal gap) is no N-N interval
    gap = [(time_s[50] + 0.1, time_s[50] + 0.3)]
    assert hrv_time_domain(time_s, classes, unreadable_s=gap)["nn_intervals"] == hrv["nn_intervals"] - 1


@pytest.mark.shared
def test_heart_rate_variability_agrees_with_neurokit2_where_it_is_right(shared_data: Path) -> None:
    # on MIT-BIH records of sinus rhythm with few ectopic beats, from the annotators' labels: mean NN, SDNN and RMSSD
    # as neurokit2's hrv_time gives them on the same N-N intervals; SDANN within 0.5 ms (it places its segments by
    # summing the intervals, we by the beats' times)
    import neurokit2 as nk

    for name in ("100", "103", "117"):
        time_s, classes, _ = _reference(shared_data / "mitdb" / name)
        ours = hrv_time_domain(time_s, classes)
        end, nn, _ = nn_intervals(time_s, classes)
        theirs = nk.hrv_time({"RRI": nn, "RRI_Time": end}, sampling_rate=1000).iloc[0]
        assert ours["nn_share"] > 0.97
        for key, nk_key in (("mean_nn_ms", "HRV_MeanNN"), ("sdnn_ms", "HRV_SDNN"), ("rmssd_ms", "HRV_RMSSD")):
            assert ours[key] == pytest.approx(theirs[nk_key], abs=0.05), (name, key)
        assert ours["sdann_ms"] == pytest.approx(theirs["HRV_SDANN5"], abs=0.5)


def test_the_pauses_of_232_are_its_annotators(embedded: Path, tmp_path: Path) -> None:
    # 232 (sick sinus syndrome): 116 intervals of 2 s or more between the annotators' beats, the longest 5.87 s
    from ecgadapt.pipeline.annotate import annotate_record
    from ecgadapt.population.shipped import shipped_model_path

    time_s, _, _ = _reference(embedded / "232")
    info = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "232", tmp_path).summary
    table = pd.read_csv(tmp_path / "pauses.csv")
    assert info["holter"]["pauses"] == len(table) == int((np.diff(time_s) >= 2.0).sum()) == 116
    assert info["holter"]["longest_pause_s"] == 5.87 and table.seconds.max() == pytest.approx(5.872)
    assert pd.read_csv(tmp_path / "hourly.csv").pauses.sum() == 116
    assert json.loads((tmp_path / "summary.json").read_text())["holter"]["pauses"] == 116  # for scripts
    report = (tmp_path / "report.md").read_text()
    assert "### Pauses (116 of 2 s or more)" in report and "| 0:17:31 | 5.87 |" in report
    assert (tmp_path / "figures" / "pause.png").stat().st_size > 1000


@pytest.mark.shared
def test_no_pause_where_the_signal_could_not_show_a_beat(shared_data: Path, tmp_path: Path) -> None:
    # 207: its ventricular flutter episodes have no beat annotations (intervals up to 100 s between beats): no pause.
    # On detected beats, the beats' detector misses some of its bundle branch block beats: the intervals where
    # another detector finds a beat are no pauses either; the one left is one the annotators have no beat in
    from ecgadapt.pipeline.annotate import annotate_record
    from ecgadapt.population.shipped import shipped_model_path

    record = shared_data / "mitdb" / "207"
    time_s, _, _ = _reference(record)
    assert np.diff(time_s).max() > 99
    annotated = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), record, tmp_path / "a", outputs=ANNOTATE_NO_REPORT).summary
    assert annotated["holter"]["pauses"] == 2 and annotated["holter"]["longest_pause_s"] < 3
    detected = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), record, tmp_path / "d", beats="detected", outputs=ANNOTATE_NO_REPORT).summary
    table = pd.read_csv(tmp_path / "d" / "pauses.csv")
    assert table.start_s.round(1).tolist() == [1640.5]
    assert not ((time_s > table.start_s[0] + 0.15) & (time_s < table.end_s[0] - 0.15)).any()
    assert any(n.startswith("4 interval(s) of 2 s or more between detected beats hold a beat another R-peak detector")
               for n in detected["notes"])


def test_fusion_beats_have_a_burden_of_their_own(embedded: Path) -> None:
    """MIT-BIH 213 holds hundreds of fusion beats (AAMI F): the totals count them per 100 beats, as V and S."""
    from ecgadapt.data import AAMI_CLASSES
    from ecgadapt.data.base import read_annotations

    ann = read_annotations(embedded / "213")
    beat = ann.beat_mask()
    classes = np.asarray(ann.aami()[beat])
    totals = holter_summary(ann.sample[beat] / 360.0, classes, AAMI_CLASSES).totals
    n_f = int((classes == "F").sum())
    assert n_f > 300 and totals["F_per_100"] == round(100 * n_f / len(classes), 2)
