"""A rhythm model personalized to one patient: the windows of the patient's labelled time (rhythm labels from the
annotation file's rhythm changes, "(AFIB", "(N", ...) adapt the model through the same strategy registry and behind
the same negative-transfer guard as the beat models.

The windows stand where the beats stand in a :class:`BeatSet`: X [windows, 1, samples], the RR features zero (a
rhythm network reads none), y the rhythm covering most of each window, time_s its start. The guard's folds are blocks
of the labelled windows in time; windows overlap by half, so a window at a fold's edge shares 5 s with its neighbour
in the next fold (the held-out check is that much optimistic). Strategies that need beat-specific inputs (synthetic
premature beats, DiffECG's noise step on beats) do not apply to windows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt.data.record import Record, RhythmInterval
from ecgadapt.errors import RecordError
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import AdaptContext, BeatSet, get_strategy, predict_beats
from ecgadapt.personalize.guard import GuardDecision, NegativeTransferGuard
from ecgadapt.prepare import RHYTHM_CLASSES as WINDOW_RHYTHMS
from ecgadapt.prepare import PrepSettings, record_arrays
from ecgadapt.rhythm.model import RHYTHM_CLASSES

#: the windows of a rhythm model's RR input: none (the strategies pass an RR tensor the network ignores)
_NO_RR = 4
#: the guard's smallest fold, in windows: a 30-minute record's first 10 % holds 36 windows
RHYTHM_GUARD_MIN_FOLD = 5


def rhythm_windows(record: Record, lead: str, meta: dict[str, Any]) -> BeatSet:
    """Every window of ``lead`` of ``record``, cut as the rhythm checkpoint ``meta`` says, labelled with the annotated
    rhythm covering most of it (-1: none annotated there)."""
    settings: PrepSettings = replace(PrepSettings.from_dict(meta["prep"]), leads=(lead,), label_source="rhythm")
    arrays = record_arrays(record, settings)
    lookup = np.array([RHYTHM_CLASSES.index(c) for c in WINDOW_RHYTHMS] + [-1])
    y = np.asarray(arrays["y"], dtype=np.int64)
    y = lookup[np.where(y >= 0, y, len(WINDOW_RHYTHMS))]
    X = np.asarray(arrays["X"], dtype=np.float32)
    return BeatSet(X, np.zeros((len(X), _NO_RR), dtype=np.float32), y,
                   np.asarray(arrays["position"], dtype=np.float64) / record.fs, np.zeros(len(X), dtype=np.int64))


@dataclass
class RhythmPersonalization:
    model: EcgModel  # what the patient gets: the personalized model, or the population one kept
    decision: GuardDecision | None  # None: the guard was off
    labelled: np.ndarray  # which windows were labelled (adapted on)
    population_probs: np.ndarray
    personalized_probs: np.ndarray

    @property
    def kept(self) -> str:
        return self.decision.kept if self.decision is not None else "personalized"


def personalize_rhythm(model: EcgModel, windows: BeatSet, labelled_s: float, *, method: str = "finetune",
                       params: dict[str, Any] | None = None, guard: bool = True, seed: int = 0,
                       min_windows_per_fold: int = RHYTHM_GUARD_MIN_FOLD) -> RhythmPersonalization:
    """Adapt ``model`` on the labelled windows of the first ``labelled_s`` seconds (the paper's protocol: the first
    10 % of the subject's time), behind the guard unless ``guard`` is False; classify every window with both."""
    strategy = get_strategy(method, **(params or {}))
    in_labelled = windows.time_s < labelled_s
    labelled = windows.subset(np.flatnonzero(in_labelled))
    rest = windows.subset(np.flatnonzero(~in_labelled))
    unlabelled = BeatSet(rest.X, rest.rr, np.full(len(rest), -1), rest.time_s, rest.patient)
    context = AdaptContext(RHYTHM_CLASSES, None, seed)
    if guard:
        adapted, decision = NegativeTransferGuard(strategy, min_beats_per_fold=min_windows_per_fold).adapt(
            model, labelled, unlabelled, context)
    else:
        adapted, decision = strategy.adapt(model, labelled.labelled, unlabelled, context), None
    population = predict_beats(model, windows)
    personalized = population if adapted is model else predict_beats(adapted, windows)
    return RhythmPersonalization(adapted, decision, in_labelled, population, personalized)


#: a rhythm in an episodes CSV (``rhythm.csv``'s classes, or MIT-BIH's aux notes) -> the rhythm note windows are
#: labelled from; noise ("~") labels no window
_CSV_RHYTHMS = {"N": "(N", "AF": "(AFIB", "O": "(O", "(N": "(N", "(AFIB": "(AFIB", "(AFL": "(AFL"}


def read_episodes_csv(path: str | Path, fs: float, n_samples: int) -> list[RhythmInterval]:
    """Rhythm episodes from a CSV file with ``start_s``, ``end_s`` and ``rhythm`` columns (``rhythm.csv`` of
    ``annotate``, corrected by a reviewer, reads back): the rhythm intervals windows are labelled from. Rows of noise
    ("~") or with an empty rhythm label nothing. A RecordError naming the file for anything else."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"rhythm": str}, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise RecordError(path, f"not a readable CSV file ({err})") from err
    missing = [c for c in ("start_s", "end_s", "rhythm") if c not in table]
    if missing:
        raise RecordError(path, f"no {', '.join(missing)} column (the columns of rhythm.csv: start_s, end_s, rhythm)")
    duration = n_samples / fs
    intervals = []
    for i, row in enumerate(table.itertuples(index=False), start=2):  # line 1 is the header
        rhythm = str(row.rhythm).strip()
        if rhythm in ("", "~"):
            continue
        if rhythm not in _CSV_RHYTHMS and not rhythm.startswith("("):
            raise RecordError(path, f"line {i}: unknown rhythm {rhythm!r} (N, AF, O, ~, or a MIT-BIH rhythm note such "
                                    "as (AFIB)")
        try:
            start, end = float(row.start_s), float(row.end_s)
        except (TypeError, ValueError):
            raise RecordError(path, f"line {i}: start_s and end_s must be numbers") from None
        if not (0 <= start < end) or not np.isfinite(end):
            raise RecordError(path, f"line {i}: an episode from {start:g} to {end:g} s (start 0 or more, before end)")
        if start >= duration:
            raise RecordError(path, f"line {i}: starts at {start:g} s, after the recording's end ({duration:.1f} s): "
                                    "the episodes of another recording?")
        intervals.append(RhythmInterval(int(round(start * fs)), min(int(round(end * fs)), n_samples),
                                        _CSV_RHYTHMS.get(rhythm, rhythm)))
    if not intervals:
        raise RecordError(path, "no episode with a rhythm label (N, AF, O or a MIT-BIH note)")
    return intervals
