"""Detections that are no beats, learnt from the patient's labelled minutes.

Where beats come from the R-peak detector, the labelled minutes say which of its detections are no beats: those with
no labelled beat within 150 ms (``MATCH_TOLERANCE_S``), e.g. the T waves it takes for beats on MIT-BIH 113. A
patient's false detections look alike from one minute to the next, so a classifier learns them from the labelled
minutes: logistic regression (classes balanced, features standardized) on the population model's beat features
(``forward_features``: the beat window and its RR intervals).

It is used only if time-ordered cross-validation inside the labelled minutes shows that it removes significantly
more false detections than true beats: the negative-transfer guard's 3 contiguous blocks and its one-sided McNemar
test at alpha = 0.05 (``guard.mcnemar_one_sided``), with "keep every detection" in the place of the population
model. With fewer than ``MIN_FALSE`` false detections in the labelled minutes the test cannot pass (4 of 4 fixed
gives p = 0.0625), so none is learnt. These settings are the guard's; none was tuned here.

Then the detections it calls no beat (probability above one half) outside the labelled minutes are removed, and
inside them those the labels say are no beats. The RR features of the beats left are computed anew: a T-wave
detection halves the intervals around it, and the patient's average RR with them.

A filter in use travels in ``personalized.pt`` (``FalseDetectionFilter.to_state``, with the population model whose
features it reads), so that ``ecgadapt annotate`` removes the same kind of detection from the patient's other
recordings on the same lead (``filter_recording``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ecgadapt.data.record import Annotations, Record
from ecgadapt.errors import RecordError
from ecgadapt.models.io import model_from_state, model_state
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import BeatSet, features
from ecgadapt.personalize.guard import mcnemar_one_sided
from ecgadapt.pipeline.recording import PatientRecord
from ecgadapt.prepare import record_arrays
from ecgadapt.signal.peaks import DETECT_CONTEXT_S, PeakAgreement, peak_agreement
from ecgadapt.signal.quality import MATCH_TOLERANCE_S

FOLDS = 3
ALPHA = 0.05
MIN_FALSE = 5  # the fewest false detections with which 3 held-out blocks can reach p <= 0.05 (5 of 5: p = 0.031)


@dataclass
class FalseDetectionCheck:
    """What the labelled minutes showed about the detector's false detections, and what was done about them."""

    used: bool  # the learnt filter removes detections outside the labelled minutes
    reason: str
    labelled_detections: int = 0  # the detector's beats in the annotated part of the labelled minutes
    false_in_labelled: int = 0  # of them, no labelled beat within 150 ms
    fixed: int = 0  # held-out false detections the filter removed
    broken: int = 0  # held-out true beats it removed
    p_value: float = 1.0
    removed_labelled: int = 0  # false detections removed inside the labelled minutes (their labels say so)
    removed_rest: int = 0  # removed outside them by the filter

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def note(self, window: str, elsewhere: str) -> str:
        if not self.labelled_detections:
            return f"false detections: {self.reason}"
        head = (f"false detections: {self.false_in_labelled} of the detector's {self.labelled_detections} beats in "
                f"the {window} have no labelled beat within {MATCH_TOLERANCE_S * 1000:.0f} ms" +
                (f" ({self.removed_labelled} removed there)" if self.removed_labelled else ""))
        if self.used:
            return (f"{head}; a filter learnt from them removed {self.removed_rest} detections {elsewhere} "
                    f"({self.reason}; false_detections.csv)")
        return f"{head}; no filter {elsewhere}: {self.reason}"


@dataclass
class LabelledDetections:
    """The detector's beats in the labelled minutes (the stretch the annotations cover, none touching invalid
    samples), judged by the labelled beats there."""

    beats: BeatSet  # cut as the patient's beats are, with the record's average RR
    sample: np.ndarray  # their R peaks (samples of the record)
    is_beat: np.ndarray  # a labelled beat lies within 150 ms
    index: np.ndarray | None  # in ``patient.beats``; None where the labelled minutes' beats are the annotations
    labelled: np.ndarray  # the labelled beats' samples in the same stretch
    fs: float

    def agreement(self) -> PeakAgreement:
        """The detector against the labelled beats: sensitivity and positive predictivity on this patient."""
        return peak_agreement(self.labelled, self.sample, self.fs, MATCH_TOLERANCE_S)


def labelled_detections(patient: PatientRecord, start_s: float, end_s: float) -> LabelledDetections | None:
    """The detector the beats outside the annotations come from, over the labelled minutes from ``start_s`` to
    ``end_s``: where the beats are the detector's, the patient's own; where the labelled minutes' beats are the
    annotations, the detector run over them with the same filters and cuts. None where every beat is annotated, or no
    labelled beat lies in that stretch."""
    rec, fs = patient.record, patient.record.fs
    ann = rec.annotations
    if patient.beat_source == "annotated" or ann is None or patient.annotated_span is None:
        return None
    tolerance = MATCH_TOLERANCE_S * fs
    lo = int(max(round(start_s * fs), patient.annotated_span[0] - tolerance))
    hi = int(min(round(end_s * fs), patient.annotated_span[1] + tolerance))
    labelled = ann.sample[ann.beat_mask()]
    labelled = labelled[(labelled >= lo) & (labelled < hi)]
    if not len(labelled):
        return None
    if patient.beat_source == "detected":
        index = np.flatnonzero((patient.sample >= lo) & (patient.sample < hi) & ~patient.in_gap)
        beats = patient.beats.subset(index)
        return LabelledDetections(beats, patient.sample[index], beats.y >= 0, index, labelled, fs)
    # the labelled minutes' beats are the annotations: the detector's view of them, cut the same way, with the
    # record's average RR (the RR features of the beats a filter judges are the whole record's)
    context = int(round(DETECT_CONTEXT_S * fs))
    first, last = max(0, lo - context), min(rec.n_samples, hi + context)
    inside = (ann.sample >= first) & (ann.sample < last)
    crop = Record(database=rec.database, name=rec.name, subject=rec.subject, signal=rec.signal[:, first:last], fs=fs,
                  leads=rec.leads, path=rec.path,
                  annotations=Annotations(ann.sample[inside] - first, ann.symbol[inside],
                                          [a for a, k in zip(ann.aux, inside) if k]))
    try:
        arrays = record_arrays(crop, replace(patient.settings, peaks="detected"))
    except RecordError:  # fewer than 2 detections in the labelled minutes: the detector found nothing there
        none = np.zeros(0, dtype=np.int64)
        return LabelledDetections(patient.beats.subset(none), none, np.zeros(0, dtype=bool), None, labelled, fs)
    position = np.asarray(arrays["position"], dtype=np.int64) + first
    take = (position >= lo) & (position < hi)
    before, after = patient.settings.beat_before_s, patient.settings.beat_after_s
    for a, b in patient.unseen_s:  # invalid samples (filled in) and flutter: no evidence either way
        take &= (position < (a - after) * fs) | (position > (b + before) * fs)
    rr = np.asarray(arrays["rr"], dtype=np.float32)[take]
    if len(rr) and len(patient.beats):
        rr[:, 3] = patient.beats.rr[0, 3]
    y = np.asarray(arrays["y"], dtype=np.int64)[take]
    beats = BeatSet(np.asarray(arrays["X"], dtype=np.float32)[take], rr, y, position[take] / fs,
                    np.zeros(int(take.sum()), dtype=np.int64))
    return LabelledDetections(beats, position[take], y >= 0, None, labelled, fs)


def _classifier() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))


@dataclass
class FalseDetectionFilter:
    """A learnt filter as it is applied and stored: the standardization and logistic regression of ``_classifier``
    over ``feature_model``'s ``forward_features`` (the population model's), with where it was learnt. Plain arrays,
    not the scikit-learn objects, so that ``personalized.pt`` stays loadable with ``weights_only``."""

    feature_model: EcgModel
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # log-odds of a beat, per standardized feature
    intercept: float
    leads: list[str]  # the leads the detections were read on: its evidence holds for these only
    learnt_on: str  # the recording whose labelled minutes it was learnt from
    check: dict[str, Any] = field(default_factory=dict)  # FalseDetectionCheck.to_dict() there

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, feature_model: EcgModel, leads: list[str],
                      learnt_on: str) -> FalseDetectionFilter:
        scaler, regression = pipeline[0], pipeline[-1]
        assert list(regression.classes_) == [False, True]  # coef_ then gives the log-odds of a beat
        return cls(feature_model, scaler.mean_.copy(), scaler.scale_.copy(), regression.coef_[0].copy(),
                   float(regression.intercept_[0]), list(leads), learnt_on)

    def not_beat_probability(self, beats: BeatSet) -> np.ndarray:
        """The probability that each of ``beats`` is no beat."""
        feats = features(self.feature_model, beats.first_leads(self.feature_model.in_leads)).numpy()
        return self.not_beat_probability_of_features(feats)

    def not_beat_probability_of_features(self, feats: np.ndarray) -> np.ndarray:
        """The same from the features: what the pipeline's ``predict_proba`` gives for the class False."""
        return expit(-(((feats.astype(np.float64) - self.mean) / self.scale) @ self.coef + self.intercept))

    def to_state(self) -> dict[str, Any]:
        """Tensors and plain data, for a checkpoint's metadata (``from_state`` reads it back)."""
        return {"feature_model": model_state(self.feature_model),
                **{k: torch.from_numpy(getattr(self, k)) for k in ("mean", "scale", "coef")},
                "intercept": self.intercept, "leads": self.leads, "learnt_on": self.learnt_on, "check": self.check}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FalseDetectionFilter:
        return cls(model_from_state(state["feature_model"]),
                   *(state[k].numpy().astype(np.float64) for k in ("mean", "scale", "coef")),
                   float(state["intercept"]), list(state["leads"]), str(state["learnt_on"]), dict(state["check"]))


def learn_false_detections(feats: np.ndarray, is_beat: np.ndarray, time_s: np.ndarray
                           ) -> tuple[Pipeline | None, FalseDetectionCheck]:
    """The filter (None if it is not to be used) and the check of it, from the labelled minutes' detections."""
    n_false = int((~is_beat).sum())
    check = FalseDetectionCheck(False, "", len(is_beat), n_false)
    if n_false < MIN_FALSE:
        check.reason = f"fewer than {MIN_FALSE} false detections to learn from"
        return None, check
    if is_beat.sum() < FOLDS:
        check.reason = "too few labelled beats among the detections"
        return None, check
    blocks = np.array_split(np.argsort(time_s, kind="stable"), FOLDS)
    held, calls = [], []
    for k, test in enumerate(blocks):
        train = np.concatenate([b for j, b in enumerate(blocks) if j != k])
        if is_beat[train].all() or not is_beat[train].any():  # one kind only: nothing to tell apart, keep them all
            call = np.ones(len(test), dtype=np.int64)
        else:
            call = _classifier().fit(feats[train], is_beat[train]).predict(feats[test]).astype(np.int64)
        held.append(is_beat[test].astype(np.int64))
        calls.append(call)
    y, call = np.concatenate(held), np.concatenate(calls)
    fixed, broken, p = mcnemar_one_sided(y, np.ones(len(y), dtype=np.int64), call)
    check.fixed, check.broken, check.p_value = fixed, broken, p
    evidence = (f"held out in the labelled minutes it removed {fixed} false detections and {broken} true beats, "
                f"one-sided McNemar p = {p:.3g}")
    if p > ALPHA:
        check.reason = f"no significant gain at alpha = {ALPHA:g} ({evidence})"
        return None, check
    check.used, check.reason = True, evidence
    return _classifier().fit(feats, is_beat), check


class FalseDetectionRemoval(NamedTuple):
    patient: PatientRecord  # without the removed detections
    check: FalseDetectionCheck | None
    removed: pd.DataFrame  # sample, time_s, part, not_beat_probability, why (false_detections.csv)
    filter: FalseDetectionFilter | None  # the learnt filter, where it is used


def _apply_filter(patient: PatientRecord, learnt: FalseDetectionFilter, candidates: np.ndarray, drop: np.ndarray,
                  probability: np.ndarray) -> None:
    """Mark in ``drop`` the ``candidates`` (indices in ``patient.beats``) that ``learnt`` calls no beat (probability
    above one half), their probability in ``probability``."""
    if len(candidates):
        no_beat = learnt.not_beat_probability(patient.beats.subset(candidates))
        probability[candidates] = no_beat
        drop[candidates[no_beat > 0.5]] = True


def remove_false_detections(patient: PatientRecord, model: EcgModel, found: LabelledDetections | None,
                            start_s: float, end_s: float) -> FalseDetectionRemoval:
    """``patient`` without the detections the labelled minutes (``found``: ``labelled_detections``, from ``start_s``
    to ``end_s``) show or teach to be no beats (``model``: the one whose features the filter reads, the population
    model), the check (None where ``found`` is), the removed detections and the filter if one is used."""
    removed = pd.DataFrame(columns=["sample", "time_s", "part", "not_beat_probability", "why"])
    if found is None:
        return FalseDetectionRemoval(patient, None, removed, None)
    beats, is_beat = found.beats, found.is_beat
    feats = features(model, beats.first_leads(model.in_leads)).numpy()
    classifier, check = learn_false_detections(feats, is_beat, beats.time_s)
    drop = np.zeros(len(patient.beats), dtype=bool)
    if found.index is not None:  # the labelled minutes' own detections: their labels say which are none
        drop[found.index[~is_beat]] = True
    check.removed_labelled = int(drop.sum())  # none where the labelled minutes' beats are the annotations
    probability = np.full(len(patient.beats), np.nan)
    learnt = None
    if classifier is not None:
        learnt = FalseDetectionFilter.from_pipeline(classifier, model, list(patient.settings.leads or []),
                                                    str(patient.record.path))
        t = patient.beats.time_s
        _apply_filter(patient, learnt, np.flatnonzero(
            np.isfinite(patient.agreement) & ((t < start_s) | (t >= end_s)) & ~patient.in_gap), drop, probability)
        check.removed_rest = int(drop.sum()) - check.removed_labelled
        learnt.check = check.to_dict()  # with its final counts, as personalized.pt carries it
    if drop.any():
        t = patient.beats.time_s[drop]
        inside = (t >= start_s) & (t < end_s)
        removed = pd.DataFrame({"sample": patient.sample[drop], "time_s": np.round(t, 4),
                                "part": np.where(inside, "labelled", "rest"),
                                "not_beat_probability": np.round(probability[drop], 4),
                                "why": np.where(inside, f"no labelled beat within {MATCH_TOLERANCE_S * 1000:.0f} ms",
                                                "learnt filter")})
        patient = patient.without(drop)
    return FalseDetectionRemoval(patient, check, removed, learnt)


def filter_recording(patient: PatientRecord, learnt: FalseDetectionFilter) -> tuple[PatientRecord, pd.DataFrame]:
    """``patient`` (another recording of the patient ``learnt`` was learnt on, read on the same leads) without the
    detected beats ``learnt`` calls no beat, and those removed (sample, time_s, not_beat_probability, why); annotated
    beats and beats in signal gaps are not judged."""
    drop = np.zeros(len(patient.beats), dtype=bool)
    probability = np.full(len(patient.beats), np.nan)
    _apply_filter(patient, learnt, np.flatnonzero(np.isfinite(patient.agreement) & ~patient.in_gap), drop,
                  probability)
    removed = pd.DataFrame({"sample": patient.sample[drop], "time_s": np.round(patient.beats.time_s[drop], 4),
                            "not_beat_probability": np.round(probability[drop], 4), "why": "learnt filter"})
    return (patient.without(drop) if drop.any() else patient), removed
