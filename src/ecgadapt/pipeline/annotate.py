"""Classify every beat of a recording with a (personalized) model, no adaptation: the long recordings a personalized
model is made for. The same steps as ``pipeline.personalize`` without the adaptation: read and cut, remove the false
detections the model's filter calls no beats, classify, write the chosen outputs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt._atomic import output_folder
from ecgadapt.data import AAMI_CLASSES
from ecgadapt.errors import ConfigError
from ecgadapt.personalize.base import predict_beats
from ecgadapt.pipeline.classify import recording_holter, unclassifiable_as_q
from ecgadapt.pipeline.false_detections import FalseDetectionFilter, filter_recording
from ecgadapt.pipeline.recording import PatientRecord, load_beat_model, load_patient
from ecgadapt.pipeline.results import AnnotateResult, Timings
from ecgadapt.pipeline.rhythm import rhythm_step
from ecgadapt.pipeline.writers import check_outputs, write_outputs


def annotate_record(model_path: str | Path, record_path: str | Path, out: str | Path, *, lead: str | None = None,
                    beats: str = "auto", annotation: str = "atr", false_detection_filter: bool = True,
                    outputs: Iterable[str] | None = None, rhythm: bool = True,
                    rhythm_model: str | Path | None = None) -> AnnotateResult:
    """Classify every beat of a record with a (personalized) model: by default ``<name>.pred``, ``beats.csv``, the
    Holter tables (``hourly.csv``, ``runs.csv``, ``pauses.csv``), ``report.html`` and ``summary.json``
    (``outputs``: the writers to run, ``pipeline.writers.list_writers("annotate")``).

    ``false_detection_filter``: where the model carries a filter of false detections learnt by ``personalize`` and
    the beats are detected on the lead it was learnt on, remove the detections it calls no beat
    (``false_detections.csv``).

    ``rhythm``: also classify the rhythm along the recording (``rhythm.csv``, the AF burden) with ``rhythm_model`` (a
    checkpoint or a shipped rhythm model's name; None: the shipped default).
    """
    t0 = time.perf_counter()
    out = output_folder(out)
    chosen = check_outputs(outputs, "annotate")
    onnx = Path(model_path).suffix.lower() == ".onnx"  # an exported model, run by onnxruntime
    model, meta = load_onnx_beat_model(model_path) if onnx else load_beat_model(model_path)
    rhythm_of = rhythm_step(rhythm, rhythm_model)
    label_names = tuple(meta.get("label_names", AAMI_CLASSES))
    notes = []
    if lead is None and meta.get("personalized_lead"):  # the patient's lead, e.g. II where the model read MLII
        lead = meta["personalized_lead"]
        notes.append(f"lead {lead}: the lead this model was personalized on (--lead to choose another)")
    patient = load_patient(record_path, meta, lead=lead, beats=beats, annotation=annotation)
    notes += patient.notes
    made_for = meta.get("personalized_for")
    if made_for and Path(made_for).name != patient.record.name:  # another of the patient's recordings, or not?
        notes.append(f"this model was personalized for recording {Path(made_for).name}, not {patient.record.name}: "
                     "its figures hold for the same patient's recordings only")
    t_read = time.perf_counter() - t0
    patient, false_removed, false_info = _filter_false_detections(patient, model_path,
                                                                  meta.get("false_detection_filter"),
                                                                  false_detection_filter, notes)
    out.mkdir(parents=True, exist_ok=True)  # only now: bad input above leaves no empty output folder behind
    raw = model.probabilities(patient.beats.X, patient.beats.rr) if onnx else predict_beats(model, patient.beats)
    probs = unclassifiable_as_q(raw, patient.in_gap, label_names)
    pred = probs.argmax(1)
    analysis = rhythm_of(patient, notes) if rhythm_of is not None else None
    t_infer = time.perf_counter() - t0 - t_read
    table = pd.DataFrame({"sample": patient.sample, "time_s": np.round(patient.beats.time_s, 4),
                          "predicted": [label_names[c] for c in pred], "confidence": np.round(probs.max(1), 4),
                          "signal_gap": patient.in_gap, **patient.quality_columns()})
    result = AnnotateResult(out=out, model_path=Path(model_path), patient=patient, label_names=label_names,
                            beats=table, holter=recording_holter(patient, table.predicted.to_numpy(), label_names),
                            notes=notes, false_removed=false_removed,
                            seconds=Timings(read_and_cut=t_read, inference=t_infer, total=time.perf_counter() - t0),
                            false_detections=false_info, rhythm=analysis)
    write_outputs(result, chosen)
    return result


def load_onnx_beat_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """An exported beat model (``ecgadapt export``) and its metadata; a ConfigError naming the file for another
    task."""
    from ecgadapt.models.onnx_export import OnnxClassifier

    classifier = OnnxClassifier(path)
    if classifier.meta.get("task") != "beats":
        raise ConfigError(f"{path}: an exported model of the {classifier.meta.get('task')!r} task, not of beats: "
                          "`annotate --model` classifies beats")
    return classifier, classifier.meta


def _filter_false_detections(patient: PatientRecord, model_path: str | Path, state: dict[str, Any] | None, use: bool,
                             notes: list[str]) -> tuple[PatientRecord, pd.DataFrame | None, dict[str, Any] | None]:
    """``annotate``'s side of ``personalize.false_detections``: ``patient`` without the detections the filter a
    personalized model (``model_path``) carries (``state``) calls no beat, where it applies; the removed ones and what
    was done (None where the model carries no filter), a note in ``notes``."""
    if state is None:
        return patient, None, None
    if not use:
        return patient, None, {"applied": False, "reason": "switched off (--no-false-detection-filter)",
                               "removed": None}  # none judged: not "none removed"
    try:
        learnt = FalseDetectionFilter.from_state(state)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise ConfigError(f"{model_path}: the filter of false detections it carries is unreadable "
                          f"({type(err).__name__}: {err}); --no-false-detection-filter annotates without it") from err
    leads = list(patient.settings.leads or [])
    info: dict[str, Any] = {"learnt_on": learnt.learnt_on, "leads": learnt.leads, "check": learnt.check,
                            "applied": False, "detections": int(np.isfinite(patient.agreement).sum()),
                            "removed": None}
    where = f"the labelled minutes of {learnt.learnt_on}"
    if not info["detections"]:
        info["reason"] = "every beat is annotated: no detection to judge"
    elif leads != learnt.leads:  # its evidence is of detections on the lead it was learnt on
        info["reason"] = (f"it was learnt on lead {', '.join(learnt.leads)}, this recording is read on "
                          f"{', '.join(leads)}")
        notes.append(f"false detections: the filter the model carries (learnt from {where}) is not applied: "
                     f"{info['reason']}")
    else:
        patient, removed = filter_recording(patient, learnt)
        info.update(applied=True, removed=len(removed), reason="applied")
        notes.append(f"false detections: a filter learnt from {where} removed {len(removed)} of the detector's "
                     f"{info['detections']} beats (false_detections.csv; --no-false-detection-filter keeps them all)")
        return patient, removed, info
    return patient, None, info
