"""The user's command: personalize a population model to one patient's record and classify the whole record.

A few named steps: read and cut the recording the way the model was trained (``pipeline.recording``); split off the
labelled minutes (the first, or from ``labelled_start``; labels from the annotation file, or a CSV file of them: the
cardiologist's) and remove the detector's false detections they show; adapt behind the negative-transfer guard;
classify every beat with both models; score against the reference where there is one; write the chosen outputs
(``pipeline.writers``: the personalized model, a WFDB annotation file, beats.csv, the Holter tables, summary.json, the
HTML report).
"""

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
from ecgadapt.evaluation import aami_metrics
from ecgadapt.holter import holter_summary
from ecgadapt.personalize.base import AdaptContext, BeatSet, get_strategy, unsupervised_strategies
from ecgadapt.personalize.guard import NegativeTransferGuard
from ecgadapt.pipeline.classify import classify, recording_holter
from ecgadapt.pipeline.false_detections import labelled_detections, remove_false_detections
from ecgadapt.pipeline.recording import UNANNOTATED_MARGIN_S, PatientRecord, load_beat_model, load_patient
from ecgadapt.pipeline.results import PersonalizeResult, Timings
from ecgadapt.pipeline.rhythm import rhythm_step
from ecgadapt.pipeline.writers import check_outputs, write_outputs
from ecgadapt.report.recording import clock
from ecgadapt.signal.quality import MATCH_TOLERANCE_S


def labelled_window_text(start_minutes: float, minutes: float) -> str:
    """How the labelled minutes are named in notes, errors and the report."""
    if start_minutes == 0:
        return f"first {minutes:g} minutes"
    return f"{minutes:g} minutes from minute {start_minutes:g}"


def personalize_record(model_path: str | Path, record_path: str | Path, out: str | Path, *,
                       labelled_minutes: float | None = None, labelled_start: float = 0.0, method: str = "finetune",
                       params: dict[str, Any] | None = None, guard: bool = True,
                       lead: str | None = None, beats: str = "auto", population: BeatSet | None = None,
                       seed: int = 0, cache_dir: Path | None = None,
                       reference_path: str | Path | None = None, annotation: str = "atr",
                       labels: str | Path | None = None, false_detection_filter: bool = True,
                       outputs: Iterable[str] | None = None, rhythm: bool = True,
                       rhythm_model: str | Path | None = None) -> PersonalizeResult:
    """``reference_path``: a model the guard compares against and falls back to instead of ``model_path`` (e.g. the
    MLII model while adapting an MLII + V1 one); the report's "population" predictions are then that model's.
    ``annotation``: the extension of the record's beat annotation file; ``labels``: a CSV file of beat labels read in
    its place (``data.label_csv``), e.g. ``annotate``'s ``beats.csv`` with a reviewer's ``label`` column.
    ``labelled_minutes``: the minutes of the record whose labels adapt the model (from ``labelled_start``, 0: its
    first minutes; the beats before and after them are the unlabelled rest); None: 5, or with ``labels`` every beat
    the labels file labels, wherever it lies (a review's beats: ``ecgadapt review``), matched to the R-peak
    detector's beats within 150 ms.
    ``false_detection_filter``: where beats come from the detector, remove the detections the labelled minutes show
    or teach to be no beats (``pipeline.false_detections``).
    ``outputs``: the writers to run (``pipeline.writers.list_writers("personalize")``; None: all).
    ``rhythm``: also classify the rhythm along the recording (``rhythm.csv``, the AF burden) with ``rhythm_model``
    (None: the shipped rhythm model); the rhythm model is not personalized here."""
    t_start = time.perf_counter()
    every_label = labelled_minutes is None and labels is not None  # the labelled beats, wherever they lie
    if labelled_minutes is None:
        labelled_minutes = 0.0 if every_label else 5.0
    if every_label and beats == "auto":  # every beat of the recording from the detector; the labels on those they fit
        beats = "detected"
    out = output_folder(out)
    chosen = check_outputs(outputs, "personalize")
    model, meta = load_beat_model(model_path)
    rhythm_of = rhythm_step(rhythm, rhythm_model)
    reference, reference_meta = None, None
    if reference_path is not None:
        from ecgadapt.population.shipped import load_reference

        reference, reference_meta, reference_path = load_reference(reference_path, meta)
    baseline = reference if reference is not None else model  # what the patient gets without personalization
    label_names = tuple(meta.get("label_names", AAMI_CLASSES))
    strategy = get_strategy(method, **(params or {}))
    unsupervised = ", ".join(unsupervised_strategies())
    if not np.isfinite(labelled_minutes) or labelled_minutes < 0:
        raise ConfigError(f"labelled minutes = {labelled_minutes:g}: must be a number, 0 or more")
    if not np.isfinite(labelled_start) or labelled_start < 0:
        raise ConfigError(f"labelled start = {labelled_start:g}: the minute the labelled minutes start at must be 0 or "
                          "more")
    if labelled_minutes == 0 and strategy.needs_labels and not every_label:
        raise ConfigError(f"labelled minutes = 0: a supervised strategy ({method}) needs labelled minutes of the "
                          f"record (> 0); unsupervised ones ({unsupervised}) also run with 0")
    window = f"beats labelled in {Path(labels).name}" if every_label else \
        labelled_window_text(labelled_start, labelled_minutes)
    elsewhere = ("outside the labelled beats" if every_label else
                 "outside the labelled minutes" if labelled_start else "after the labelled minutes")  # the rest

    # step: read and cut the recording
    t0 = time.perf_counter()
    patient = load_patient(record_path, meta, lead=lead, beats=beats, annotation=annotation, labels=labels)
    t_read = time.perf_counter() - t0
    rec = patient.record
    start_s, end_s = labelled_start * 60.0, (labelled_start + labelled_minutes) * 60.0
    if rec.duration_s < end_s:
        raise ConfigError(f"{rec.path}: the record lasts {rec.duration_s / 60:.2f} min, shorter than the "
                          f"{labelled_minutes:g} labelled minutes asked for" +
                          (f" from minute {labelled_start:g}" if labelled_start else ""))

    # step: the labelled minutes, and the false detections they show
    # the detector's check and the false detections it makes need a stretch of time labelled throughout
    found = None if every_label else labelled_detections(patient, start_s, end_s)
    detector = found.agreement() if found is not None else None  # the detector as it is, before any is removed
    false_check, false_removed, learnt_filter = None, None, None
    if false_detection_filter and not every_label:
        patient, false_check, false_removed, learnt_filter = remove_false_detections(patient, baseline, found, start_s,
                                                                                     end_s)
    in_labelled = (patient.beats.y >= 0) if every_label else \
        (patient.beats.time_s >= start_s) & (patient.beats.time_s < end_s)
    labelled = patient.beats.subset(np.flatnonzero(in_labelled))
    # gap beats: nothing to adapt to; poor-signal beats: perhaps noise, which the patient's beats must not be adapted to
    rest_index = np.flatnonzero(~in_labelled & ~patient.in_gap & ~patient.poor_signal)
    rest = patient.beats.subset(rest_index)
    unlabelled = BeatSet(rest.X, rest.rr, np.full(len(rest), -1), rest.time_s, rest.patient)  # labels hidden
    notes = list(patient.notes)
    if every_label:
        given = int(rec.annotations.beat_mask().sum()) if rec.annotations is not None else 0
        if not in_labelled.any():
            raise ConfigError(f"{labels}: none of its {given} labelled beats lies within "
                              f"{MATCH_TOLERANCE_S * 1000:.0f} ms of a beat the R-peak detector finds in {rec.path}: "
                              "the labels of another recording?")
        notes.append(labelled_beats_note(patient.beats.time_s[in_labelled], given, rec.duration_s, Path(labels).name))
    if reference is not None:
        notes.append(f"the guard compares against, and falls back to, {Path(reference_path).name} "
                     f"({', '.join(reference_meta['prep']['leads'] or [])}); the population column is that model's")
    if strategy.needs_labels and not (labelled.y >= 0).any():
        in_gap = int(patient.in_gap[in_labelled].sum())
        why = (f"no annotation file ({rec.name}.{annotation}), so the {labelled_minutes:g} labelled minutes have no "
               "labels" if rec.annotations is None else
               f"the {in_gap} beats annotated in the {window} all lie where a lead the model reads holds no signal "
               "(invalid samples or a flat line), so they have no labels" if in_gap else
               f"{patient.labels_file.name} has no beat annotation in the {window}, so they have no labels")
        raise ConfigError(f"{rec.path}: {why}: labels are required for supervised strategies ({method}); "
                          f"unsupervised ones ({unsupervised}) still run")
    if rec.annotations is None:
        notes.append("record has no reference annotations: nothing to score against, and the guard cannot check")
    span = patient.annotated_span
    if patient.beat_source == "annotated+detected" and span is not None and labelled_minutes > 0 and (
            span[0] / rec.fs - start_s > UNANNOTATED_MARGIN_S or end_s - span[1] / rec.fs > UNANNOTATED_MARGIN_S):
        notes.append(f"the annotations cover {span[0] / rec.fs / 60:.2f} to {span[1] / rec.fs / 60:.2f} min, not "
                     f"all of the labelled minutes ({labelled_start:g} to {end_s / 60:g} min): the beats of the "
                     "labelled minutes outside them are unlabelled and not used to adapt")
    if detector is not None:
        notes.append(f"the R-peak detector against the labelled beats of the {window}: it finds {detector.tp} of "
                     f"{detector.tp + detector.fn} (sensitivity {detector.sensitivity:.3f}), and {detector.fp} of its "
                     f"beats have no labelled beat within {MATCH_TOLERANCE_S * 1000:.0f} ms (positive predictivity "
                     f"{detector.ppv:.3f}): the detected beats {elsewhere} hold misses and false beats at about "
                     "these rates, and so do their counts, burden and heart rate variability" +
                     (" (before the false detections below are removed)" if false_check is not None else ""))
    if false_check is not None:
        notes.append(false_check.note(window, elsewhere))
    present = set(labelled.y[labelled.y >= 0].tolist())
    missing = [c for i, c in enumerate(label_names) if i not in present and c != "Q"]
    if rec.annotations is not None and missing and labelled_minutes > 0:  # none labelled: nothing to remark on
        notes.append(f"no {', '.join(missing)} beats in the labelled minutes: the personalized model learns "
                     "nothing patient-specific about " + ("that class" if len(missing) == 1 else "those classes"))
    if strategy.needs_population and population is None:
        raise ConfigError(f"method {method!r} needs population beats: pass --population with the MIT-BIH folder")

    # step: adapt behind the guard
    context = AdaptContext(label_names, population, seed, cache_dir)
    out.mkdir(parents=True, exist_ok=True)  # only now: bad input above leaves no empty output folder behind
    t0 = time.perf_counter()
    if guard:
        adapted, decision = NegativeTransferGuard(strategy, reference=reference).adapt(model, labelled, unlabelled,
                                                                                        context)
    else:
        adapted, decision = strategy.adapt(model, labelled, unlabelled, context), None
    t_adapt = time.perf_counter() - t0

    # step: classify every beat with both models
    t0 = time.perf_counter()
    known = decision.rest_probabilities if decision is not None and decision.kept == "personalized" else None
    p_pop = classify(baseline, patient, label_names, rest_index, known[0] if known else None)
    # the guard fell back to the baseline: the same model, one pass
    p_per = p_pop if adapted is baseline else classify(adapted, patient, label_names, rest_index,
                                                       known[1] if known else None)
    analysis = rhythm_of(patient, notes) if rhythm_of is not None else None
    t_infer = time.perf_counter() - t0
    pred_pop, pred_per = p_pop.argmax(1), p_per.argmax(1)
    table = pd.DataFrame({"sample": patient.sample, "time_s": np.round(patient.beats.time_s, 4),
                          "part": np.where(in_labelled, "labelled", "rest"),
                          "reference": [label_names[c] if c >= 0 else "" for c in patient.beats.y],
                          "population": [label_names[c] for c in pred_pop],
                          "personalized": [label_names[c] for c in pred_per],
                          "confidence": np.round(p_per.max(1), 4), "signal_gap": patient.in_gap,
                          **patient.quality_columns()})

    # step: score against the reference
    y = patient.beats.y
    scores: dict[str, Any] = {}
    for part, mask in (("rest", ~in_labelled), ("labelled", in_labelled)):
        if (y[mask] >= 0).any():
            scores[part] = {"population": aami_metrics(y[mask], pred_pop[mask], label_names),
                            "personalized": aami_metrics(y[mask], pred_per[mask], label_names)}
    q_rest = ~in_labelled & (y == label_names.index("Q")) if "Q" in label_names else np.zeros(len(y), dtype=bool)
    if q_rest.any():  # e.g. a paced patient: the AAMI figures may hold a handful of beats and say nothing of the rest
        q = label_names.index("Q")
        notes.append(f"{int(q_rest.sum())} reference Q beats (paced or unclassifiable) {elsewhere} "
                     "are left out of the AAMI metrics; the population model calls "
                     f"{int((pred_pop[q_rest] == q).sum())} of them Q, the personalized model "
                     f"{int((pred_per[q_rest] == q).sum())}")
    kept_meta = reference_meta if reference is not None and adapted is reference else meta
    checkpoint_meta = {**kept_meta, "personalized_for": str(rec.path), "method": method, "params": strategy.params,
                       "labelled_minutes": labelled_minutes, "labelled_start": labelled_start,
                       "personalized_lead": lead,  # annotate reads the patient's other records on the same lead
                       # and removes from them the false detections the labelled minutes taught
                       "false_detection_filter": learnt_filter.to_state() if learnt_filter is not None else None,
                       # without its run time: identical runs give byte-identical model files (a batch's resume
                       # compares model files by content)
                       "guard": {k: v for k, v in decision.to_dict().items() if k != "seconds"} if decision else None}
    seconds = Timings(read_and_cut=t_read, adapt=t_adapt, inference=t_infer, total=time.perf_counter() - t_start)
    result = PersonalizeResult(
        out=out, model_path=Path(model_path), patient=patient, label_names=label_names, beats=table,
        holter=recording_holter(patient, table.personalized.to_numpy(), label_names), notes=notes,
        false_removed=false_removed, seconds=seconds, model=adapted, decision=decision,
        checkpoint_meta=checkpoint_meta, reference_path=Path(reference_path) if reference_path is not None else None,
        method=method, params=strategy.params, labelled_minutes=labelled_minutes, labelled_start=labelled_start,
        labelled_window=window, rest_is=elsewhere, in_labelled=in_labelled, unlabelled_beats=len(unlabelled),
        detector=detector, false_check=false_check, strategy_info=context.info, scores=scores,
        holter_against_reference=holter_against_reference(patient, ~in_labelled, label_names, pred_pop, pred_per),
        rhythm=analysis)
    write_outputs(result, chosen)
    return result


def labelled_beats_note(time_s: np.ndarray, given: int, duration_s: float, source: str) -> str:
    """How many beats were labelled and where in the recording they lie (a review's beats are spread over it)."""
    fifths = np.bincount(np.minimum((time_s / max(duration_s, 1e-9) * 5).astype(int), 4), minlength=5)
    unmatched = given - len(time_s)
    return (f"{len(time_s)} beats labelled in {source}, from {clock(time_s.min())} to {clock(time_s.max())} of "
            f"{clock(duration_s)} (in each fifth of the recording: {' / '.join(map(str, fifths))}); they adapt the "
            "model, the rest is classified" +
            (f"; {unmatched} of its labels lie more than {MATCH_TOLERANCE_S * 1000:.0f} ms from any beat the R-peak "
             "detector finds and are not used" if unmatched > 0 else ""))


def holter_against_reference(patient: PatientRecord, rest: np.ndarray, label_names: tuple[str, ...],
                             pred_pop: np.ndarray, pred_per: np.ndarray) -> dict[str, dict[str, Any]] | None:
    """The Holter totals of the ``rest`` of the recording by the reference, the population and the personalized
    model, where every beat of it outside signal gaps has a reference; None otherwise."""
    y = patient.beats.y
    scored = rest & ~patient.in_gap
    if not scored.any() or not (y[scored] >= 0).all():
        return None
    t = patient.beats.time_s[scored]
    # where beats were left out between two scored ones (the labelled minutes, a gap) their interval is no pause
    kept = np.flatnonzero(scored)
    skips = np.flatnonzero(np.diff(kept) > 1)
    left_out = [(float(t[k]), float(t[k + 1])) for k in skips]
    return {who: holter_summary(t, np.asarray(label_names)[classes[scored]], label_names,
                                unreadable_s=patient.unreadable_s + left_out).totals
            for who, classes in (("reference", y), ("population", pred_pop), ("personalized", pred_per))}

