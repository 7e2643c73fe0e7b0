"""A Holter summary of a recording's classified beats: heart rate and beat classes hour by hour, heart rate
variability of the N-N intervals, pauses, and runs of ectopic beats (couplets; runs of three or more, which a Holter
report counts as ventricular or supraventricular tachycardia, as MIT-BIH's rhythm annotations mark "(VT" where three
or more V beats follow each other).

It reads only beat times and classes, so it summarises a reference annotation file as well as a model's output.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_text

#: an interval between two beats outside these bounds is no RR interval of the heart rate: shorter is a double
#: detection, longer a missed beat or a gap in the signal; a longer pause also ends a run of ectopic beats
MIN_RR_S, MAX_RR_S = 0.2, 3.0
#: a minute's heart rate needs at least this many RR intervals
MIN_INTERVALS_PER_MINUTE = 10
#: an interval between two beats at least this long is a pause (sinus arrest, AV block), the first thing a Holter
#: report lists after the ectopic beats; where the signal could not show a beat it is none (``holter_summary``)
PAUSE_S = 2.0
#: heart rate variability's segments (SDANN, SDNN index), as the Task Force of the ESC and NASPE (1996) defines them;
#: a segment counts if N-N intervals cover at least this share of it
HRV_SEGMENT_S, HRV_SEGMENT_COVERED = 300.0, 0.5


def time_of_day(start: datetime.time, seconds: float) -> str:
    """``HH:MM:SS`` on the clock ``seconds`` after ``start`` (past midnight: the next day's clock)."""
    t = (start.hour * 3600 + start.minute * 60 + start.second + int(round(seconds))) % 86400
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


def overlapping(lo: np.ndarray, hi: np.ndarray, stretches: Sequence[tuple[float, float]]) -> np.ndarray:
    """Which of the intervals ``lo[i]``..``hi[i]`` overlap one of ``stretches`` (start, end): sorted by start, an
    interval overlaps one if the latest end among those starting before its own end lies after its start. A day with
    thousands of lead-off stretches costs a sort, not a pass over the beats for each stretch."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if not len(stretches):
        return np.zeros(len(lo), dtype=bool)
    bounds = np.asarray(sorted(stretches), dtype=float).reshape(-1, 2)
    latest_end = np.maximum.accumulate(bounds[:, 1])
    before = np.searchsorted(bounds[:, 0], hi, side="left")  # stretches starting before the interval's end
    return (before > 0) & (latest_end[np.maximum(before - 1, 0)] > lo)


def _rr_and_valid(time_s: np.ndarray, unreadable_s: Sequence[tuple[float, float]] = ()
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(every RR interval in s, which are valid): within ``MIN_RR_S``..``MAX_RR_S``, and over no stretch of
    ``unreadable_s`` (a beat there may be unseen)."""
    rr = np.diff(time_s)
    return rr, (rr >= MIN_RR_S) & (rr <= MAX_RR_S) & ~overlapping(time_s[:-1], time_s[1:], unreadable_s)


def _valid_rr(time_s: np.ndarray, unreadable_s: Sequence[tuple[float, float]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(time of the beat ending each valid RR interval, the interval in s)."""
    rr, ok = _rr_and_valid(time_s, unreadable_s)
    return time_s[1:][ok], rr[ok]


def heart_rate_per_minute(time_s: np.ndarray, duration_s: float | None = None,
                          unreadable_s: Sequence[tuple[float, float]] = ()) -> pd.DataFrame:
    """Mean heart rate (bpm) of each minute: 60 over the mean of the RR intervals ending in it; NaN for a minute with
    fewer than ``MIN_INTERVALS_PER_MINUTE`` of them (noise, a gap)."""
    time_s = np.asarray(time_s, dtype=float)
    minutes = int(np.ceil((duration_s if duration_s is not None else (time_s[-1] if len(time_s) else 0)) / 60)) or 1
    end, rr = _valid_rr(time_s, unreadable_s)
    which = np.minimum((end // 60).astype(int), minutes - 1)
    count = np.bincount(which, minlength=minutes)
    total = np.bincount(which, weights=rr, minlength=minutes)
    with np.errstate(invalid="ignore", divide="ignore"):
        hr = np.where(count >= MIN_INTERVALS_PER_MINUTE, 60.0 * count / total, np.nan)
    return pd.DataFrame({"minute": np.arange(minutes), "intervals": count, "hr_bpm": hr})


def hourly_table(time_s: np.ndarray, classes: np.ndarray, label_names: tuple[str, ...], *,
                 poor_signal: np.ndarray | None = None, duration_s: float | None = None,
                 start_time: datetime.time | None = None, pause_start_s: np.ndarray | None = None,
                 unreadable_s: Sequence[tuple[float, float]] = (), per_minute: pd.DataFrame | None = None
                 ) -> pd.DataFrame:
    """One row an hour of the recording: the clock time it starts at (with ``start_time``, the recording's), beats,
    mean heart rate, the lowest and highest minute's heart rate, beats of each class, beats in poor signal and
    pauses (starting in the hour, with ``pause_start_s``). ``per_minute``: ``heart_rate_per_minute`` of the same
    beats, if the caller has it."""
    time_s, classes = np.asarray(time_s, dtype=float), np.asarray(classes)
    if per_minute is None:
        per_minute = heart_rate_per_minute(time_s, duration_s, unreadable_s)
    hours = int(np.ceil(len(per_minute) / 60))
    hour = np.minimum((time_s // 3600).astype(int), hours - 1)
    end, rr = _valid_rr(time_s, unreadable_s)
    rr_hour = np.minimum((end // 3600).astype(int), hours - 1)
    rows = []
    for h in range(hours):
        minute_hr = per_minute.hr_bpm.to_numpy()[h * 60:(h + 1) * 60]
        minute_hr = minute_hr[np.isfinite(minute_hr)]
        in_hour, rr_in = hour == h, rr[rr_hour == h]
        row: dict[str, Any] = {"hour": h, **({"clock": time_of_day(start_time, 3600 * h)} if start_time else {}),
                               "beats": int(in_hour.sum()),
                               "hr_mean": round(60.0 / rr_in.mean(), 1) if len(rr_in) else np.nan,
                               "hr_min": round(float(minute_hr.min()), 1) if len(minute_hr) else np.nan,
                               "hr_max": round(float(minute_hr.max()), 1) if len(minute_hr) else np.nan}
        row.update({name: int((classes[in_hour] == name).sum()) for name in label_names})
        if poor_signal is not None:
            row["poor_signal"] = int(np.asarray(poor_signal)[in_hour].sum())
        if pause_start_s is not None:
            row["pauses"] = int(np.count_nonzero(np.minimum((pause_start_s // 3600).astype(int), hours - 1) == h))
        rows.append(row)
    return pd.DataFrame(rows)


def nn_intervals(time_s: np.ndarray, classes: np.ndarray, poor_signal: np.ndarray | None = None,
                 unreadable_s: Sequence[tuple[float, float]] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The N-N intervals heart rate variability is measured on: between two consecutive beats both of class N (neither
    in poor signal), within ``MIN_RR_S``..``MAX_RR_S``, not overlapping a stretch of ``unreadable_s`` (a beat there
    may be unseen). Returns (time of each interval's end in s, the interval in ms, whether it directly follows the one
    before: successive differences are taken only between such pairs)."""
    time_s, classes = np.asarray(time_s, dtype=float), np.asarray(classes)
    normal = classes == "N"
    if poor_signal is not None:
        normal &= ~np.asarray(poor_signal, dtype=bool)
    rr, ok = _rr_and_valid(time_s, unreadable_s)
    ok &= normal[1:] & normal[:-1]
    index = np.flatnonzero(ok)
    follows = np.zeros(len(index), dtype=bool)
    follows[1:] = np.diff(index) == 1
    return time_s[1:][ok], 1000.0 * rr[ok], follows


def hrv_time_domain(time_s: np.ndarray, classes: np.ndarray, poor_signal: np.ndarray | None = None,
                    unreadable_s: Sequence[tuple[float, float]] = ()) -> dict[str, Any]:
    """Time-domain heart rate variability of the N-N intervals (Task Force 1996), the figures a Holter report gives:
    mean NN, SDNN, SDANN (of the 5-minute segments' means), SDNN index (mean of their SDs), RMSSD and pNN50 (of
    successive differences), in ms and %; ``None`` where there are too few intervals (SDANN needs two segments).

    Written here rather than taken from neurokit2's ``hrv_time``: its SDANN and SDNN index place the segments by
    summing the intervals, so an ectopic beat left out shifts every later segment, and its pNN50 divides by one more
    than the number of differences."""
    end, nn, follows = nn_intervals(time_s, classes, poor_signal, unreadable_s)
    out: dict[str, Any] = {"nn_intervals": int(len(nn)), "nn_share": round(len(nn) / max(len(time_s) - 1, 1), 4)}
    if len(nn) < 2:
        return {**out, **dict.fromkeys(("mean_nn_ms", "sdnn_ms", "sdann_ms", "sdnn_index_ms", "rmssd_ms", "pnn50"))}
    diffs = np.diff(nn)[follows[1:]]
    segment = (end // HRV_SEGMENT_S).astype(int)
    full = [nn[segment == k] for k in np.unique(segment)]
    full = [x for x in full if x.sum() / 1000.0 >= HRV_SEGMENT_COVERED * HRV_SEGMENT_S]
    out.update(mean_nn_ms=round(float(nn.mean()), 1), sdnn_ms=round(float(nn.std(ddof=1)), 1),
               sdann_ms=round(float(np.std([x.mean() for x in full], ddof=1)), 1) if len(full) >= 2 else None,
               sdnn_index_ms=round(float(np.mean([x.std(ddof=1) for x in full])), 1) if full else None,
               rmssd_ms=round(float(np.sqrt(np.mean(diffs ** 2))), 1) if len(diffs) else None,
               pnn50=round(float(100.0 * np.mean(np.abs(diffs) > 50.0)), 2) if len(diffs) else None)
    return out


def pauses(time_s: np.ndarray, *, min_s: float = PAUSE_S, poor_signal: np.ndarray | None = None,
           unreadable_s: Sequence[tuple[float, float]] = ()) -> pd.DataFrame:
    """Intervals between consecutive beats of at least ``min_s``: the beat before (index), start and end time, length.
    An interval is no pause where the signal could not show the beats in it: one of its beats in poor signal, or a
    stretch of ``unreadable_s`` (invalid samples; an annotated ventricular flutter, whose waves have no beat
    annotations) overlapping it."""
    time_s = np.asarray(time_s, dtype=float)
    rr = np.diff(time_s)
    long = np.flatnonzero(rr >= min_s)
    if poor_signal is not None and len(long):
        poor = np.asarray(poor_signal, dtype=bool)
        long = long[~(poor[long] | poor[long + 1])]
    long = long[~overlapping(time_s[long], time_s[long + 1], unreadable_s)]
    return pd.DataFrame({"beat_before": long.astype(int), "start_s": np.round(time_s[long], 3),
                         "end_s": np.round(time_s[long + 1], 3), "seconds": np.round(rr[long], 3)})


def ectopic_runs(time_s: np.ndarray, classes: np.ndarray, label: str, *, min_beats: int = 2,
                 poor_signal: np.ndarray | None = None) -> pd.DataFrame:
    """Runs of consecutive beats of class ``label`` (at least ``min_beats``): kind ("couplet" for 2, "run" for 3 or
    more), first and last beat's time and index, beats, and rate (bpm over the run). A pause longer than ``MAX_RR_S``
    ends a run. The rate tells a tachycardia from a slow ectopic rhythm; it is not used to name the run, since MIT-BIH's
    annotators mark "(VT" at three V beats in a row also below 100 bpm.

    With ``poor_signal`` (a flag per beat), a column ``poor_signal_beats`` counts the run's beats in poor signal: a
    "run" in noise is the classic false alarm of a Holter analysis, the first a cardiologist checks."""
    time_s, classes = np.asarray(time_s, dtype=float), np.asarray(classes)
    hit = classes == label
    breaks = np.ones(len(hit) + 1, dtype=bool)  # a run ends where the class changes or a pause comes
    breaks[1:-1] = (hit[1:] != hit[:-1]) | (np.diff(time_s) > MAX_RR_S)
    edges = np.flatnonzero(breaks)
    rows = []
    for first, stop in zip(edges[:-1], edges[1:]):
        n = stop - first
        if hit[first] and n >= min_beats:
            span = time_s[stop - 1] - time_s[first]
            rows.append({"class": label, "kind": "couplet" if n == 2 else "run", "first_beat": int(first),
                         "start_s": round(float(time_s[first]), 3), "end_s": round(float(time_s[stop - 1]), 3),
                         "beats": int(n), "rate_bpm": round(60.0 * (n - 1) / span, 1) if span > 0 else np.nan})
            if poor_signal is not None:
                rows[-1]["poor_signal_beats"] = int(np.count_nonzero(np.asarray(poor_signal)[first:stop]))
    columns = ["class", "kind", "first_beat", "start_s", "end_s", "beats", "rate_bpm"]
    return pd.DataFrame(rows, columns=columns + (["poor_signal_beats"] if poor_signal is not None else []))


class HolterSummary(NamedTuple):
    totals: dict[str, Any]
    hourly: pd.DataFrame
    runs: pd.DataFrame  # couplets and runs of V and S beats
    per_minute: pd.DataFrame  # heart rate
    pauses: pd.DataFrame


def write_holter_tables(out: Path, time_s: np.ndarray, classes: np.ndarray, label_names: tuple[str, ...], *,
                        poor_signal: np.ndarray | None = None, duration_s: float | None = None,
                        start_time: datetime.time | None = None, unreadable_s: Sequence[tuple[float, float]] = ()
                        ) -> HolterSummary:
    """``holter_summary`` and its tables written to ``out``: ``hourly.csv``, ``runs.csv``, ``pauses.csv``."""
    summary = holter_summary(time_s, classes, label_names, poor_signal=poor_signal, duration_s=duration_s,
                             start_time=start_time, unreadable_s=unreadable_s)
    atomic_write_text(out / "hourly.csv", summary.hourly.to_csv(index=False))
    atomic_write_text(out / "runs.csv", summary.runs.to_csv(index=False))
    atomic_write_text(out / "pauses.csv", summary.pauses.to_csv(index=False))
    return summary


def holter_summary(time_s: np.ndarray, classes: np.ndarray, label_names: tuple[str, ...], *,
                   poor_signal: np.ndarray | None = None, duration_s: float | None = None,
                   start_time: datetime.time | None = None, unreadable_s: Sequence[tuple[float, float]] = ()
                   ) -> HolterSummary:
    """Totals, hourly table, ectopic runs of V and S beats, heart rate per minute and pauses (``pauses``, with
    ``unreadable_s``). With ``start_time`` (the recording's, of day) the hours, runs and pauses also get the clock
    time they start at (a ``clock`` column)."""
    per_minute = heart_rate_per_minute(time_s, duration_s, unreadable_s)
    pause = pauses(time_s, poor_signal=poor_signal, unreadable_s=unreadable_s)
    hourly = hourly_table(time_s, classes, label_names, poor_signal=poor_signal, duration_s=duration_s,
                          start_time=start_time, pause_start_s=pause.start_s.to_numpy(), unreadable_s=unreadable_s,
                          per_minute=per_minute)
    found = [r for r in (ectopic_runs(time_s, classes, label, poor_signal=poor_signal) for label in ("V", "S")
                         if label in label_names) if len(r)]
    runs = pd.concat(found, ignore_index=True) if found else \
        ectopic_runs(time_s[:0], classes[:0], "V", poor_signal=None if poor_signal is None else poor_signal[:0])  # none
    if start_time:
        runs.insert(4, "clock", [time_of_day(start_time, t) for t in runs.start_s])
        pause.insert(2, "clock", [time_of_day(start_time, t) for t in pause.start_s])
    n = max(len(classes), 1)
    _, rr = _valid_rr(np.asarray(time_s, dtype=float), unreadable_s)
    hr = per_minute.hr_bpm.to_numpy()
    totals: dict[str, Any] = {"beats": int(len(classes)),
                              "start_time": start_time.strftime("%H:%M:%S") if start_time else None,
                              "hr_mean": round(60.0 / rr.mean(), 1) if len(rr) else None,
                              "hr_min_minute": round(float(np.nanmin(hr)), 1) if np.isfinite(hr).any() else None,
                              "hr_max_minute": round(float(np.nanmax(hr)), 1) if np.isfinite(hr).any() else None,
                              "pauses": int(len(pause)),
                              "longest_pause_s": round(float(pause.seconds.max()), 2) if len(pause) else None}
    for label in ("V", "S"):
        if label not in label_names:
            continue
        mine = runs[runs["class"] == label]
        hit = np.asarray(classes) == label
        totals[f"{label}_per_100"] = round(100.0 * int(hit.sum()) / n, 2)
        # counted in the burden all the same (a flutter episode must not vanish), but the ones to check first
        totals[f"{label}_in_poor_signal"] = 0 if poor_signal is None else \
            int((hit & np.asarray(poor_signal, dtype=bool)).sum())
        totals[f"{label}_couplets"] = int((mine.kind == "couplet").sum())
        totals[f"{label}_runs"] = int((mine.kind == "run").sum())
        totals[f"{label}_longest_run"] = int(mine.beats.max()) if len(mine) else 0
    if "F" in label_names:  # fusion beats: a burden of their own (no runs: a run of fusion beats is no clinical term)
        hit = np.asarray(classes) == "F"
        totals["F_per_100"] = round(100.0 * int(hit.sum()) / n, 2)
        totals["F_in_poor_signal"] = 0 if poor_signal is None else int((hit & np.asarray(poor_signal, dtype=bool)).sum())
    if "N" in label_names:
        totals["hrv"] = hrv_time_domain(time_s, classes, poor_signal, unreadable_s)
    return HolterSummary(totals, hourly, runs, per_minute, pause)
