"""What the pipeline returns: typed results of one recording, from which ``summary.json`` is produced
(:meth:`RecordResult.summary`, its schema unchanged) and each output writer writes its files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ecgadapt.holter import HolterSummary
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.guard import GuardDecision
from ecgadapt.pipeline.false_detections import FalseDetectionCheck
from ecgadapt.pipeline.recording import PatientRecord
from ecgadapt.rhythm.analysis import RhythmAnalysis
from ecgadapt.signal.peaks import PeakAgreement


@dataclass(frozen=True)
class Timings:
    """Seconds spent reading and cutting the recording, adapting (personalize only) and classifying, and in all."""

    read_and_cut: float
    inference: float
    total: float
    adapt: float | None = None

    def to_dict(self) -> dict[str, float]:
        order = ("read_and_cut", "adapt", "inference", "total")
        return {k: getattr(self, k) for k in order if getattr(self, k) is not None}


@dataclass
class RecordResult:
    """What every job on one recording has: the beats read, their classes and the Holter summary of them."""

    job: ClassVar[str]
    classes_column: ClassVar[str]  # beats.csv's column of the classes the outputs report

    out: Path
    model_path: Path
    patient: PatientRecord
    label_names: tuple[str, ...]
    beats: pd.DataFrame  # beats.csv
    holter: HolterSummary  # of ``classes``
    notes: list[str]
    false_removed: pd.DataFrame | None  # false_detections.csv: the detections removed as no beats, if any
    seconds: Timings
    rhythm: RhythmAnalysis | None = None  # rhythm.csv and the AF burden; None: the rhythm step was off

    @property
    def rhythm_summary(self) -> dict[str, Any] | None:
        return self.rhythm.summary if self.rhythm is not None else None

    @property
    def name(self) -> str:
        return self.patient.record.name

    @property
    def classes(self) -> np.ndarray:
        """The class of every beat (names), as the outputs report them."""
        return self.beats[self.classes_column].to_numpy()

    @property
    def annotation_path(self) -> Path:
        """The WFDB annotation file of the predicted beats (``<name>.pred``)."""
        return self.out / f"{self.name}.pred"

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json``: for scripts."""
        raise NotImplementedError


@dataclass
class AnnotateResult(RecordResult):
    """``annotate``: every beat classified by one model, no adaptation."""

    job: ClassVar[str] = "annotate"
    classes_column: ClassVar[str] = "predicted"

    false_detections: dict[str, Any] | None = None  # what the model's filter of false detections did; None: it has none

    @property
    def counts(self) -> dict[str, int]:
        classes = self.classes
        return {c: int((classes == c).sum()) for c in self.label_names}

    @property
    def summary(self) -> dict[str, Any]:
        rec = self.patient.record
        return {"record": str(rec.path), "name": rec.name, "annotations": str(self.annotation_path),
                "model": str(self.model_path), "beats": int(len(self.beats)), "duration_s": rec.duration_s,
                "leads_in_record": len(rec.meta["leads_in_file"]), "lead": list(self.patient.settings.leads or []),
                "beat_source": self.patient.beat_source, "poor_signal_beats": int(self.patient.poor_signal.sum()),
                "notes": self.notes, "false_detections": self.false_detections, "counts": self.counts,
                "holter": self.holter.totals, "rhythm": self.rhythm_summary, "seconds": self.seconds.to_dict()}


@dataclass
class PersonalizeResult(RecordResult):
    """``personalize``: the population model adapted on the labelled minutes behind the guard, every beat classified
    by both."""

    job: ClassVar[str] = "personalize"
    classes_column: ClassVar[str] = "personalized"

    model: EcgModel | None = None  # what the patient gets: the personalized model, or the population one kept
    decision: GuardDecision | None = None  # the guard's; None: the guard was off
    checkpoint_meta: dict[str, Any] = field(default_factory=dict)  # what personalized.pt carries beside the weights
    reference_path: Path | None = None
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    labelled_minutes: float = 0.0
    labelled_start: float = 0.0
    labelled_window: str = ""
    rest_is: str = ""  # where the rest of the recording lies: "after the labelled minutes", ...
    in_labelled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    unlabelled_beats: int = 0  # what a transductive strategy adapts to
    detector: PeakAgreement | None = None  # the R-peak detector against the labelled beats of the labelled minutes
    false_check: FalseDetectionCheck | None = None
    strategy_info: dict[str, Any] = field(default_factory=dict)
    # per part of the recording ("rest", "labelled") and model ("population", "personalized"): AAMI metrics
    scores: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # the Holter totals of the rest by the reference, the population and the personalized model, where every beat of
    # the rest has a reference
    holter_against_reference: dict[str, dict[str, Any]] | None = None

    @property
    def kept(self) -> str:
        return self.decision.kept if self.decision is not None else "personalized"

    @property
    def changed_beats(self) -> int:
        return int((self.beats.population != self.beats.personalized).sum())

    @property
    def summary(self) -> dict[str, Any]:
        patient, y = self.patient, self.patient.beats.y
        summary = {
            "record": str(patient.record.path), "name": self.name, "annotations": str(self.annotation_path),
            "model": str(self.model_path),
            "reference": str(self.reference_path) if self.reference_path is not None else None,
            "labels": str(patient.labels_file) if patient.labels_file is not None else None,
            "method": self.method, "params": self.params,
            "labelled_minutes": self.labelled_minutes, "labelled_start": self.labelled_start,
            "labelled_window": self.labelled_window, "rest_is": self.rest_is,
            "beats": int(len(y)), "labelled_beats": int(self.in_labelled.sum()),
            "unlabelled_beats": self.unlabelled_beats,
            "beat_source": patient.beat_source, "poor_signal_beats": int(patient.poor_signal.sum()),
            "detector_in_labelled_minutes": None if self.detector is None else {
                "labelled_beats": self.detector.tp + self.detector.fn, "found": self.detector.tp,
                "false": self.detector.fp, "sensitivity": round(self.detector.sensitivity, 4),
                "ppv": round(self.detector.ppv, 4)},
            "false_detections": None if self.false_check is None else self.false_check.to_dict(),
            "lead": list(patient.settings.leads or []),
            "guard": self.decision.to_dict() if self.decision else "off", "kept": self.kept,
            "strategy_info": self.strategy_info, "changed_beats": self.changed_beats, "scores": self.scores,
            "notes": self.notes, "seconds": {k: round(v, 3) for k, v in self.seconds.to_dict().items()},
            "holter": self.holter.totals, "rhythm": self.rhythm_summary}
        if self.holter_against_reference is not None:
            summary["holter_against_reference"] = self.holter_against_reference
        return summary
