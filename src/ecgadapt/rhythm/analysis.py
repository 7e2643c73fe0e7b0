"""A rhythm model applied to a recording: every window classified, a short recording's class from all its windows,
and along a long recording the rhythm episodes and the AF burden.

Episodes come from the windows as follows. The recording is cut into slots of one window stride (5 s); each slot gets
the mean probabilities of the windows that cover its middle, and its most probable class. Slots that touch signal the
beats could not be read in (invalid samples) are noise. Two rules of the ESC 2020 guidelines (AF is diagnosed on an ECG
from 30 s) then apply, fixed before any result was seen, not tuned: a stretch of another class shorter than
``min_af_s`` between two AF stretches does not end the AF episode (fibrillation has stretches that look regular by
chance), and an AF stretch shorter than ``min_af_s`` left after that is given its slots' next most probable class.
Consecutive slots of one class form an episode.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ecgadapt.errors import RecordError
from ecgadapt.holter import time_of_day
from ecgadapt.models.registry import EcgModel
from ecgadapt.prepare import PrepSettings
from ecgadapt.rhythm.model import RHYTHM_LEADS
from ecgadapt.signal import preprocess, zscore

#: the shortest AF episode (ESC 2020: AF is diagnosed on an ECG from 30 s)
MIN_AF_S = 30.0
#: a recording shorter than one window is padded (with zeros after its z-scored signal) down to this share of a window;
#: shorter still, there is too little to call a rhythm
MIN_WINDOW_SHARE = 0.5
AF, NOISE = "AF", "~"


def rhythm_lead(leads: Sequence[str]) -> int:
    """The lead a rhythm model reads of a recording with ``leads``: the first of ``RHYTHM_LEADS`` present, else the
    recording's first."""
    for name in RHYTHM_LEADS:
        if name in leads:
            return list(leads).index(name)
    return 0


@dataclass
class RhythmWindows:
    """Every window of one lead of a recording and its class probabilities."""

    start_s: np.ndarray
    window_s: float
    stride_s: float
    probs: np.ndarray  # [windows, classes]
    label_names: tuple[str, ...]
    duration_s: float
    padded: bool = False  # a recording shorter than one window, padded to one

    @property
    def recording_probs(self) -> np.ndarray:
        """The recording's class probabilities: the mean of all its windows'."""
        return self.probs.mean(0)

    @property
    def recording_class(self) -> str:
        return self.label_names[int(self.recording_probs.argmax())]


@torch.no_grad()
def classify_windows(signal: np.ndarray, fs: float, model: EcgModel, meta: dict[str, Any], *, source: str | Path,
                     stride_s: float | None = None, bf16: bool = True, batch_size: int = 512) -> RhythmWindows:
    """Classify every window of ``signal`` (one lead, [samples], at ``fs``) the way the rhythm checkpoint's
    preprocessing says. ``source`` names the recording in errors."""
    settings = PrepSettings.from_dict(meta["prep"])
    stride = float(stride_s or settings.window_stride_s or settings.window_s)
    x, rate = preprocess(np.asarray(signal, dtype=np.float32)[None, :], fs, target_fs=settings.target_fs,
                         band=settings.band, baseline=settings.baseline)
    x = x[0]
    width, step = int(round(settings.window_s * rate)), max(1, int(round(stride * rate)))
    duration = len(signal) / fs
    padded = len(x) < width
    if padded:
        if len(x) < MIN_WINDOW_SHARE * width:
            raise RecordError(source, f"{duration:.1f} s long: a rhythm model reads windows of {settings.window_s:g} s "
                                      f"and calls a rhythm from {MIN_WINDOW_SHARE * settings.window_s:g} s on")
        x = np.concatenate([zscore(x), np.zeros(width - len(x), dtype=np.float32)])
    # windows cut and z-scored a batch at a time, not by fixed_windows + trainer.predict: all of a week's windows at
    # once would be half a GB more at the peak
    starts = np.arange(0, len(x) - width + 1, step)
    model.eval()
    probs = np.zeros((len(starts), model.num_classes), dtype=np.float32)
    for b in range(0, len(starts), batch_size):
        rows = starts[b:b + batch_size]
        windows = np.stack([x[s:s + width] for s in rows])
        if not padded:
            windows = zscore(windows)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(torch.from_numpy(windows[:, None, :]))
        probs[b:b + len(rows)] = torch.softmax(logits.float(), 1).numpy()
    return RhythmWindows(starts / rate, settings.window_s, stride, probs, tuple(meta["label_names"]), duration, padded)


@dataclass
class RhythmAnalysis:
    """The rhythm of a long recording: its episodes (``rhythm.csv``) and their totals (``summary.json``'s "rhythm")."""

    windows: RhythmWindows
    episodes: pd.DataFrame  # start_s, end_s, rhythm, confidence (+ clock with a start time)
    model_path: Path
    lead: str
    start_time: datetime.time | None = None
    notes: list[str] = field(default_factory=list)

    def seconds_in(self, rhythm: str) -> float:
        e = self.episodes
        return float((e.end_s - e.start_s)[e.rhythm == rhythm].sum())

    @property
    def analysable_s(self) -> float:
        return float((self.episodes.end_s - self.episodes.start_s).sum()) - self.seconds_in(NOISE)

    @property
    def af_episodes(self) -> pd.DataFrame:
        return self.episodes[self.episodes.rhythm == AF]

    @property
    def af_burden(self) -> float | None:
        """Share of the analysable time in AF, in %; None where no time was analysable."""
        return 100.0 * self.seconds_in(AF) / self.analysable_s if self.analysable_s > 0 else None

    @property
    def summary(self) -> dict[str, Any]:
        af = self.af_episodes
        longest = af.iloc[int((af.end_s - af.start_s).argmax())] if len(af) else None
        burden = self.af_burden
        return {"model": str(self.model_path), "lead": self.lead, "window_s": self.windows.window_s,
                "analysable_s": round(self.analysable_s, 1),
                "seconds": {c: round(self.seconds_in(c), 1) for c in self.windows.label_names},
                "af_burden_percent": None if burden is None else round(burden, 2),
                "af_hours": round(self.seconds_in(AF) / 3600, 3), "af_episodes": int(len(af)),
                "longest_af_s": None if longest is None else round(float(longest.end_s - longest.start_s), 1),
                "longest_af_start_s": None if longest is None else round(float(longest.start_s), 1),
                "longest_af_clock": None if longest is None or not self.start_time else
                time_of_day(self.start_time, float(longest.start_s)),
                "notes": self.notes}

    def in_af(self, time_s: np.ndarray) -> np.ndarray:
        """Which of the times (s) lie inside an AF episode."""
        inside = np.zeros(len(time_s), dtype=bool)
        for a, b in zip(self.af_episodes.start_s, self.af_episodes.end_s):
            inside |= (time_s >= a) & (time_s < b)
        return inside


def slot_probabilities(windows: RhythmWindows) -> tuple[np.ndarray, np.ndarray]:
    """(slot starts in s, probabilities [slots, classes]): each slot of one stride, the mean of the windows covering
    its middle (the nearest window's where none does, at the recording's end)."""
    n = max(1, math.ceil(windows.duration_s / windows.stride_s - 1e-9))
    start = np.arange(n) * windows.stride_s
    middle = np.minimum(start + windows.stride_s / 2, windows.duration_s)
    # the slots whose middle window j covers are a run [lo_j, hi_j) (the middles are sorted): sum over runs with a
    # difference array, linear in the recording's length (a week is 120,000 windows)
    lo = np.searchsorted(middle, windows.start_s, side="left")
    hi = np.searchsorted(middle, windows.start_s + windows.window_s, side="left")
    edges = np.zeros((n + 1, windows.probs.shape[1] + 1))
    items = np.column_stack([windows.probs, np.ones(len(windows.probs))])
    np.add.at(edges, lo, items)
    np.add.at(edges, hi, -items)
    summed = np.cumsum(edges[:n], axis=0)
    acc, count = summed[:, :-1], np.rint(summed[:, -1])
    for k in np.flatnonzero(count == 0):
        j = int(np.argmin(np.abs(windows.start_s + windows.window_s / 2 - middle[k])))
        acc[k], count[k] = windows.probs[j], 1
    return start, acc / count[:, None]


def rhythm_episodes(windows: RhythmWindows, *, unreadable_s: Sequence[tuple[float, float]] = (),
                    min_af_s: float = MIN_AF_S, start_time: datetime.time | None = None) -> pd.DataFrame:
    """The recording's rhythm episodes (the module's rules): start_s, end_s, rhythm, confidence (the mean
    probability of the episode's rhythm over its slots), and clock where the recording's start time is known."""
    names = list(windows.label_names)
    start, probs = slot_probabilities(windows)
    end = np.minimum(start + windows.stride_s, windows.duration_s)
    label = probs.argmax(1)
    noise = names.index(NOISE) if NOISE in names else None
    for a, b in unreadable_s:
        if noise is not None:
            label[(start < b) & (end > a)] = noise
    if AF in names:
        af = names.index(AF)
        _bridge_short_gaps(label, af, noise, end - start, min_af_s)
        _drop_short_runs(label, probs, af, end - start, min_af_s)
    rows = []
    for a, b in _runs(label):
        cls = int(label[a])
        rows.append({"start_s": round(float(start[a]), 2), "end_s": round(float(end[b - 1]), 2),
                     "rhythm": names[cls], "confidence": round(float(probs[a:b, cls].mean()), 4)})
    table = pd.DataFrame(rows, columns=["start_s", "end_s", "rhythm", "confidence"])
    if start_time is not None:
        table.insert(2, "clock", [time_of_day(start_time, t) for t in table.start_s])
    return table


def _runs(label: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(label)) + 1
    bounds = np.concatenate([[0], edges, [len(label)]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _bridge_short_gaps(label: np.ndarray, af: int, noise: int | None, length: np.ndarray, min_s: float) -> None:
    runs = _runs(label)
    for i in range(1, len(runs) - 1):
        a, b = runs[i]
        if (label[a] != af and label[a] != noise and label[runs[i - 1][0]] == af and label[runs[i + 1][0]] == af
                and length[a:b].sum() < min_s):
            label[a:b] = af


def _drop_short_runs(label: np.ndarray, probs: np.ndarray, af: int, length: np.ndarray, min_s: float) -> None:
    for a, b in _runs(label):
        if label[a] == af and length[a:b].sum() < min_s:
            others = probs[a:b].copy()
            others[:, af] = -1.0
            label[a:b] = others.argmax(1)


def analyse_rhythm(signal: np.ndarray, fs: float, model: EcgModel, meta: dict[str, Any], *, model_path: str | Path,
                   source: str | Path, lead: str, unreadable_s: Sequence[tuple[float, float]] = (),
                   start_time: datetime.time | None = None) -> RhythmAnalysis:
    """Windows, episodes and AF burden of one lead of a long recording."""
    windows = classify_windows(signal, fs, model, meta, source=source)
    episodes = rhythm_episodes(windows, unreadable_s=unreadable_s, start_time=start_time)
    return RhythmAnalysis(windows, episodes, Path(model_path), lead, start_time)


__all__ = ["MIN_AF_S", "RhythmAnalysis", "RhythmWindows", "analyse_rhythm", "classify_windows", "rhythm_episodes",
           "rhythm_lead", "slot_probabilities"]
