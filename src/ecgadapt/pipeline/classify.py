"""Classifying a patient's beats: every beat, the unclassifiable ones (their window in a signal gap) as Q, and the
Holter summary of the classes."""

from __future__ import annotations

import numpy as np

from ecgadapt.holter import HolterSummary, holter_summary
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import predict_first_leads
from ecgadapt.pipeline.recording import PatientRecord


def classify(model: EcgModel, patient: PatientRecord, label_names: tuple[str, ...], known_index: np.ndarray,
             known: np.ndarray | None) -> np.ndarray:
    """Class probabilities of every beat of ``patient``; ``known``: those of the beats ``known_index`` already (the
    guard's, on the unlabelled rest), so that only the other beats are classified."""
    if known is None:
        probs = predict_first_leads(model, patient.beats)
    else:
        probs = np.empty((len(patient.beats), known.shape[1]), dtype=known.dtype)
        probs[known_index] = known
        others = np.setdiff1d(np.arange(len(patient.beats)), known_index)
        probs[others] = predict_first_leads(model, patient.beats.subset(others))
    return unclassifiable_as_q(probs, patient.in_gap, label_names)


def unclassifiable_as_q(probs: np.ndarray, in_gap: np.ndarray, label_names: tuple[str, ...]) -> np.ndarray:
    """``probs`` with the beats in signal gaps set to Q (AAMI's unclassifiable beat) for a model that has the class:
    what the model would say of an interpolated window is no statement about the patient."""
    if not in_gap.any() or "Q" not in label_names:
        return probs
    probs = probs.copy()
    probs[in_gap] = 0.0
    probs[in_gap, label_names.index("Q")] = 1.0
    return probs


def recording_holter(patient: PatientRecord, classes: np.ndarray, label_names: tuple[str, ...]) -> HolterSummary:
    """The Holter summary of the whole recording's ``classes`` (names)."""
    return holter_summary(patient.beats.time_s, classes, label_names, poor_signal=patient.poor_signal,
                          duration_s=patient.record.duration_s, start_time=patient.record.meta.get("start_time"),
                          unreadable_s=patient.unreadable_s)
