"""Report sections about one recording's classified beats, shared by the reports of ``personalize`` and ``annotate``:
the Holter summary (heart rate, heart rate variability, hourly table, runs of ectopic beats, pauses) and the signal
quality of detected beats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt.evaluation import format_score
from ecgadapt.holter import HRV_SEGMENT_S, PAUSE_S, HolterSummary
from ecgadapt.report.plots import plot_agreement, plot_heart_rate, plot_strip
from ecgadapt.signal.quality import POOR_AGREEMENT, QUALITY_WINDOW_S

#: the share of N-N intervals below which the report calls the HRV figures unreliable (commercial Holter software
#: commonly asks for 80 % usable intervals; fixed, not tuned)
HRV_RELIABLE_NN_SHARE = 0.8
#: runs listed in the report (the longest first); runs.csv has them all
RUNS_SHOWN = 20


def clock(seconds: float) -> str:
    """h:mm:ss from the start of the recording."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def class_strip(patient: Any, classes: np.ndarray, class_name: str, path: Path, start_s: float, seconds: float,
                title: str, marked: np.ndarray | None = None, marked_name: str = "",
                highlight_s: float | None = None) -> None:
    """An ECG strip of the beats' lead from ``start_s``, each beat labelled with its class in ``classes``; the samples
    ``marked`` (e.g. removed detections) crossed, named ``marked_name``; the beat at ``highlight_s`` shaded."""
    rec, lead = patient.record, patient.beat_lead
    plot_strip(rec.signal[lead], rec.fs, path, start_s=max(0.0, start_s), seconds=seconds, reference=patient.sample,
               reference_labels=classes, lead_name=rec.leads[lead], reference_name=class_name, title=title,
               detected=marked, detected_name=marked_name, highlight_s=highlight_s)


def removed_detections_strip(patient: Any, classes: np.ndarray, class_name: str, removed: pd.DataFrame, figs: Path,
                             first_s: float, what: str) -> list[str]:
    """A strip around the removed detection at ``first_s`` s (``what`` it is), every removed detection (``removed``:
    ``false_detections.csv``'s rows) crossed; its Markdown lines (``figures/false_detection.png``)."""
    class_strip(patient, classes, class_name, figs / "false_detection.png", first_s - 3.0, 6.0,
                f"t={first_s:.1f} s: {what}", marked=removed["sample"].to_numpy(), marked_name="removed (no beat)")
    return ["", "![false detection](figures/false_detection.png)"]


def glance_lines(totals: dict[str, Any], rhythm: dict[str, Any] | None) -> list[str]:
    """The clinical answer in one paragraph, first in the report: heart rate, ectopic burden, pauses, AF burden."""
    parts = [f"heart rate {format_score(totals['hr_mean'], 1)} bpm (slowest minute "
             f"{format_score(totals['hr_min_minute'], 1)}, fastest {format_score(totals['hr_max_minute'], 1)})"]
    parts += [f"{c} {totals[f'{c}_per_100']:.2f} per 100 beats ({totals.get(f'{c}_runs', 0)} run(s))"
              for c in ("V", "S") if f"{c}_per_100" in totals]
    parts.append(f"{totals['pauses']} pause(s) of {PAUSE_S:g} s or more" +
                 (f", the longest {totals['longest_pause_s']:.2f} s" if totals["pauses"] else ""))
    if rhythm is not None:
        burden = rhythm["af_burden_percent"]
        parts.append("AF burden: no analysable time" if burden is None else
                     f"AF burden {burden:.1f} % ({rhythm['af_hours']:.2f} h in {rhythm['af_episodes']} episode(s))")
    return ["", "**At a glance:** " + " · ".join(parts) + "."]


def holter_section(patient: Any, classes: np.ndarray, class_name: str, holter: HolterSummary, figs: Path) -> list[str]:
    """Totals, heart rate and ectopic beats over time (PNG), the hourly table, the longest runs and pauses, and a strip
    of the longest V run, S run and pause, from ``holter.holter_summary`` of ``classes``."""
    totals, hourly, runs, per_minute = holter.totals, holter.hourly, holter.runs, holter.per_minute
    for stale in [*figs.glob("run_*.png"), figs / "pause.png"]:  # an earlier run's into the same folder
        stale.unlink(missing_ok=True)
    time_s = patient.beats.time_s
    poor_signal = bool(patient.poor_signal.any())  # the column only where it says something
    lines = ["", f"## Holter summary ({class_name} classes)", "",
             f"Heart rate {format_score(totals['hr_mean'], 1)} bpm on average; the slowest minute "
             f"{format_score(totals['hr_min_minute'], 1)}, the fastest {format_score(totals['hr_max_minute'], 1)} bpm. " +
             (f"The recording started at {totals['start_time']} (clock times below). " if totals.get("start_time")
              else "") +
             "A couplet is two ectopic beats in a row, a run three or more (`runs.csv` lists them all; "
             "`hourly.csv` has the table below).", "",
             "| class | per 100 beats | couplets | runs | longest run (beats) |" +
             (" of them in poor signal |" if poor_signal else ""), "|---|---:|---:|---:|---:|" +
             ("---:|" if poor_signal else "")]
    lines += [f"| {c} | {totals[f'{c}_per_100']:.2f} | {totals[f'{c}_couplets']} | {totals[f'{c}_runs']} "
              f"| {totals[f'{c}_longest_run']} |" + (f" {totals[f'{c}_in_poor_signal']} |" if poor_signal else "")
              for c in ("V", "S") if f"{c}_per_100" in totals]
    if "F_per_100" in totals:
        lines += ["", f"Fusion (F) beats: {totals['F_per_100']:.2f} per 100 beats."]
    hrv = totals.get("hrv")
    if hrv and hrv["sdnn_ms"] is not None:
        lines += ["", f"Heart rate variability of the {hrv['nn_intervals']} N-N intervals ({100 * hrv['nn_share']:.0f} % "
                  "of all; between two beats of class N, neither in poor signal; Task Force 1996 definitions, "
                  f"segments of {HRV_SEGMENT_S / 60:g} min): mean NN {format_score(hrv['mean_nn_ms'], 1)} ms, SDNN "
                  f"{format_score(hrv['sdnn_ms'], 1)} ms, SDANN {format_score(hrv['sdann_ms'], 1)} ms, SDNN index "
                  f"{format_score(hrv['sdnn_index_ms'], 1)} ms, RMSSD {format_score(hrv['rmssd_ms'], 1)} ms, pNN50 "
                  f"{format_score(hrv['pnn50'], 2)} %. In atrial fibrillation these measure the arrhythmia, not the "
                  "autonomic tone." +
                  (f" **Unreliable here:** only {100 * hrv['nn_share']:.0f} % of the intervals are N-N (below "
                   f"{100 * HRV_RELIABLE_NN_SHARE:.0f} %), so these figures describe a part of the recording only."
                   if hrv["nn_share"] < HRV_RELIABLE_NN_SHARE else "")]
    minute = np.minimum((time_s // 60).astype(int), len(per_minute) - 1)
    ectopic = {label: np.bincount(minute[classes == label], minlength=len(per_minute))
               for label in ("V", "S", "F") if f"{label}_per_100" in totals}
    if len(holter.pauses):
        ectopic["pauses"] = np.bincount(np.minimum((holter.pauses.start_s.to_numpy() // 60).astype(int),
                                                   len(per_minute) - 1), minlength=len(per_minute))
    plot_heart_rate(per_minute.hr_bpm.to_numpy(), ectopic, figs / "heart_rate.png",
                    title=f"{patient.record.name}: heart rate, ectopic beats and pauses a minute",
                    start_time=patient.record.meta.get("start_time"))
    counts = [c for c in hourly.columns if c not in ("hour", "clock", "beats", "hr_mean", "hr_min", "hr_max")]
    on_clock = "clock" in hourly  # the recording's start time is known: hours and runs on the clock as well
    lines += ["", "![heart rate](figures/heart_rate.png)", "", "### Hour by hour", "",
              "| hour | " + ("clock | " if on_clock else "") + "beats | mean HR | min HR | max HR | " +
              " | ".join(counts) + " |", "|---|" + "---:|" * (len(counts) + 4 + on_clock)]
    for row in hourly.to_dict("records"):  # not iterrows: a row of numbers only would make every count a float
        lines.append(f"| {clock(row['hour'] * 3600)} | " + (f"{row['clock']} | " if on_clock else "") +
                     f"{row['beats']} | " +
                     " | ".join(format_score(row[c], 1) for c in ("hr_mean", "hr_min", "hr_max")) + " | " +
                     " | ".join(str(row[c]) for c in counts) + " |")
    if len(runs):
        longest = runs.sort_values(["beats", "start_s"], ascending=[False, True])
        poor = "poor_signal_beats" in runs and bool(runs.poor_signal_beats.any())  # the column only where it says something
        lines += ["", f"### Couplets and runs of ectopic beats ({len(runs)}; the {min(RUNS_SHOWN, len(runs))} longest)",
                  ""]
        if poor:
            lines += [f"{int((runs.poor_signal_beats > 0).sum())} of them hold beats in poor signal (see below): "
                      "check those first, a run in noise is a common false alarm.", ""]
        lines += ["| class | kind | start | " + ("clock | " if on_clock else "") + "beats | rate (bpm) |" +
                  (" beats in poor signal |" if poor else ""),
                  "|---|---|---|" + ("---|" if on_clock else "") + "---:|---:|" + ("---:|" if poor else "")]
        lines += [f"| {r['class']} | {r.kind} | {clock(r.start_s)} | " + (f"{r.clock} | " if on_clock else "") +
                  f"{r.beats} | {format_score(r.rate_bpm, 1)} |" + (f" {r.poor_signal_beats} |" if poor else "")
                  for _, r in longest.head(RUNS_SHOWN).iterrows()]
        for label in ("V", "S"):
            mine = longest[longest["class"] == label]
            if len(mine):
                r = mine.iloc[0]
                seconds = float(min(max(r.end_s - r.start_s + 4.0, 6.0), 20.0))
                class_strip(patient, classes, f"{class_name} class", figs / f"run_{label}.png", r.start_s - 2.0,
                            seconds, f"longest {label} {r.kind}: {r.beats} beats at {clock(r.start_s)}")
                lines += ["", f"![longest {label} run](figures/run_{label}.png)"]
    lines += _pauses_lines(patient, classes, class_name, holter.pauses, figs)
    return lines


def rhythm_section(patient: Any, classes: np.ndarray, class_name: str, rhythm: dict[str, Any] | None,
                   episodes: pd.DataFrame | None, figs: Path) -> list[str]:
    """The rhythm model's episodes: the AF burden, the longest AF episodes and a strip of the longest (``rhythm``:
    ``summary.json``'s "rhythm"; ``episodes``: ``rhythm.csv``'s rows)."""
    (figs / "af.png").unlink(missing_ok=True)  # an earlier run's
    if rhythm is None or episodes is None:
        return []
    seconds = rhythm["seconds"]
    lines = ["", "## Rhythm", "",
             f"Rhythm model `{Path(rhythm['model']).stem}` on lead {rhythm['lead']}, in {rhythm['window_s']:g}-s "
             "windows along the whole recording (`rhythm.csv` lists every episode; the rhythm annotations are in the "
             "`.pred` file as MIT-BIH writes them). "
             f"Normal sinus rhythm {clock(seconds.get('N', 0))}, atrial fibrillation or flutter "
             f"{clock(seconds.get('AF', 0))}, other rhythms {clock(seconds.get('O', 0))}, noise "
             f"{clock(seconds.get('~', 0))} (h:mm:ss). An AF episode lasts 30 s or more (ESC 2020)."]
    if rhythm["af_burden_percent"] is None:
        return lines + ["", "**AF burden: no analysable time.**"]
    lines += ["", f"**AF burden {rhythm['af_burden_percent']:.1f} %** of the {clock(rhythm['analysable_s'])} of "
                  f"analysable time (noise left out): {rhythm['af_hours']:.2f} h in {rhythm['af_episodes']} "
                  "episode(s)."]
    af = episodes[episodes.rhythm == "AF"]
    if len(af):
        on_clock = "clock" in af
        longest = af.assign(length=af.end_s - af.start_s).sort_values("length", ascending=False)
        lines += ["", "| start | " + ("clock | " if on_clock else "") + "length | confidence |",
                  "|---|" + ("---|" if on_clock else "") + "---:|---:|"]
        lines += [f"| {clock(r.start_s)} | " + (f"{r.clock} | " if on_clock else "") +
                  f"{clock(r.length)} | {r.confidence:.2f} |" for r in longest.head(RUNS_SHOWN).itertuples()]
        first = longest.iloc[0]
        class_strip(patient, classes, f"{class_name} class", figs / "af.png", float(first.start_s) + 5.0, 10.0,
                    f"longest AF episode, from {clock(first.start_s)}: 10 s of it")
        lines += ["", "![longest AF episode](figures/af.png)"]
    return lines


def _pauses_lines(patient: Any, classes: np.ndarray, class_name: str, pauses: pd.DataFrame, figs: Path) -> list[str]:
    lines = ["", f"### Pauses ({len(pauses)} of {PAUSE_S:g} s or more)", "",
             "An interval between two beats of at least that, where the signal could show a beat (not over invalid "
             "samples, next to a beat in poor signal, over an annotated ventricular flutter, or, between detected "
             "beats, where another R-peak detector finds a beat); `pauses.csv` lists them all. A flat line with valid "
             "samples (an electrode off) is not told from an arrest: check the strip."]
    if not len(pauses):
        return lines
    longest = pauses.sort_values(["seconds", "start_s"], ascending=[False, True])
    on_clock = "clock" in pauses
    lines += ["", "| start | " + ("clock | " if on_clock else "") + "seconds |", "|---|" + ("---|" if on_clock else "") +
              "---:|"]
    lines += [f"| {clock(r.start_s)} | " + (f"{r.clock} | " if on_clock else "") + f"{r.seconds:.2f} |"
              for r in longest.head(RUNS_SHOWN).itertuples()]
    r = longest.iloc[0]
    class_strip(patient, classes, f"{class_name} class", figs / "pause.png", r.start_s - 2.0,
                float(min(r.seconds + 4.0, 20.0)), f"longest pause: {r.seconds:.2f} s at {clock(r.start_s)}")
    return lines + ["", "![longest pause](figures/pause.png)"]


def quality_section(patient: Any, classes: np.ndarray, class_name: str, figs: Path) -> list[str]:
    """Detector agreement over the record and a strip of its poorest window, for detected beats only."""
    for stale in (figs / "quality.png", figs / "poor_signal.png"):  # an earlier run's into the same folder
        stale.unlink(missing_ok=True)
    detected = np.isfinite(patient.agreement)
    if not detected.any():
        return []
    poor = patient.poor_signal
    lines = ["", "## Signal quality of the detected beats", "",
             f"Share of beats R-peak detectors agree on, per {QUALITY_WINDOW_S:g}-s window: {int(poor.sum())} of "
             f"{int(detected.sum())} detected beats lie where it is below {POOR_AGREEMENT:g} (noise, a rhythm "
             "without clear QRS complexes, or R peaks found in the wrong place); their classes are unreliable.", ""]
    plot_agreement(patient.beats.time_s[detected], patient.agreement[detected], POOR_AGREEMENT, figs / "quality.png",
                   title=f"{patient.record.name}: detector agreement")
    lines.append("![quality](figures/quality.png)")
    if poor.any():
        worst = int(np.nanargmin(patient.agreement))
        start = np.floor(patient.beats.time_s[worst] / QUALITY_WINDOW_S) * QUALITY_WINDOW_S
        class_strip(patient, classes, f"{class_name} class", figs / "poor_signal.png", start, QUALITY_WINDOW_S,
                    f"poorest window, t={start:.0f}-{start + QUALITY_WINDOW_S:.0f} s "
                    f"(agreement {patient.agreement[worst]:.2f})")
        lines += ["", "![poor signal](figures/poor_signal.png)"]
    return lines
