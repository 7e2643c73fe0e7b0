"""The user's command: personalize a population model to one patient's record and annotate the whole record.

Reads the record (and its reference annotations, if any), cuts beats exactly as the model was trained, adapts
on ``labelled_minutes`` of it (the first, or from ``labelled_start``; labels from the annotation file, or a CSV file
of them: the cardiologist's), lets the
negative-transfer guard decide, classifies every beat in streaming chunks, and writes into ``out``: the
personalized model, a WFDB annotation file of predicted beats, a CSV of beats, a JSON summary and an HTML report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import wfdb

from ecgadapt._atomic import atomic_write_json, atomic_write_text, output_folder
from ecgadapt.data import AAMI_CLASSES
from ecgadapt.data.base import (annotations_within, check_signal, header_leads, read_header, read_wfdb_signal,
                                rhythm_intervals, uncalibrated_leads, wfdb_record_path, within_signal)
from ecgadapt.data.formats import annotation_file, file_format
from ecgadapt.data.label_csv import read_label_csv
from ecgadapt.data.record import Annotations, Record, RhythmInterval
from ecgadapt.errors import ConfigError, EcgAdaptError, RecordError
from ecgadapt.evaluation import aami_metrics
from ecgadapt.holter import PAUSE_S, HolterSummary, holter_summary, write_holter_tables
from ecgadapt.models.io import load_checkpoint, save_checkpoint
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import AdaptContext, BeatSet, get_strategy, predict_beats, predict_first_leads
from ecgadapt.personalize.false_detections import (FalseDetectionFilter, filter_recording, labelled_detections,
                                                   remove_false_detections)
from ecgadapt.personalize.guard import GuardDecision, NegativeTransferGuard
from ecgadapt.prepare import PrepSettings, missing_leads, record_arrays
from ecgadapt.signal import fill_gaps, rr_features
from ecgadapt.signal.quality import (ANNOTATIONS_ON_QRS_MIN, FLAT_LINE_S, MATCH_TOLERANCE_S, POOR_AGREEMENT,
                                     QUALITY_WINDOW_S, annotations_on_qrs, beat_agreement, beats_inside, flat_stretches)

#: AAMI class -> MIT-BIH symbol written to the annotation file (viewers know these codes)
WFDB_SYMBOL = {"N": "N", "S": "A", "V": "V", "F": "F", "Q": "Q"}


@dataclass
class PatientRecord:
    record: Record
    beats: BeatSet  # every beat; y = reference AAMI class, -1 where there is no reference
    sample: np.ndarray  # R-peak sample in the original record
    settings: PrepSettings
    in_gap: np.ndarray  # beats whose window touches invalid samples of a lead the model reads: unclassifiable (Q)
    # detected beats: share of beats R-peak detectors agree on in the beat's 10-s window (signal.quality);
    # NaN for annotated beats (the annotator's, not judged)
    agreement: np.ndarray
    notes: list[str] = field(default_factory=list)  # what was done to fit the record to the model
    beat_source: str = "annotated"
    annotated_span: tuple[int, int] | None = None  # samples of the first and last annotated beat (annotated_span)
    # stretches (s) where no beat could be seen: invalid samples, and the annotators' ventricular flutter (its waves
    # have no beat annotations)
    unseen_s: list[tuple[float, float]] = field(default_factory=list)
    # long intervals between detected beats in which another R-peak detector finds a beat (missed_beat_stretches)
    missed_beats_s: list[tuple[float, float]] = field(default_factory=list)
    labels_file: Path | None = None  # the file the beat labels were read from (annotation file, CSV); None: none

    @property
    def unreadable_s(self) -> list[tuple[float, float]]:
        """Stretches where a beat may be unseen: an interval over one is no pause, N-N interval or heart rate."""
        return self.unseen_s + self.missed_beats_s

    @property
    def beat_lead(self) -> int:
        """Index in ``record.signal`` of the lead beats are cut on (the model's first)."""
        return beat_lead_index(self.record, self.settings)

    @property
    def poor_signal(self) -> np.ndarray:
        """Detected beats in windows of poor detector agreement (``signal.quality.POOR_AGREEMENT``)."""
        return self.agreement < POOR_AGREEMENT

    def quality_columns(self) -> dict[str, Any]:
        """``beats.csv``'s quality columns: empty for annotated beats."""
        return {"detector_agreement": np.round(self.agreement, 3), "poor_signal": self.poor_signal}

    def without(self, drop: np.ndarray) -> PatientRecord:
        """This recording without the beats ``drop`` marks (false detections): the RR features of the beats left are
        computed anew from their R peaks, and the long intervals left checked for missed beats again."""
        keep = np.flatnonzero(~drop)
        beats, sample = self.beats.subset(keep), self.sample[keep]
        fewer = replace(self, beats=BeatSet(beats.X, rr_features(sample, self.record.fs), beats.y, beats.time_s,
                                            beats.patient),
                        sample=sample, in_gap=self.in_gap[keep], agreement=self.agreement[keep])
        return replace(fewer, missed_beats_s=missed_beat_stretches(self.record, self.settings, sample, fewer.agreement,
                                                                   fewer.poor_signal))


#: annotations starting this long after the record does, or ending this long before it does, are taken to cover
#: only part of it, e.g. the minutes a cardiologist labelled (auto beats: the detector finds the beats outside them)
UNANNOTATED_MARGIN_S = 10.0


def annotated_span(ann: Annotations | None) -> tuple[int, int] | None:
    """Samples of the first and the last annotated beat; None without annotated beats."""
    beats = ann.sample[ann.beat_mask()] if ann is not None else []
    return (int(beats[0]), int(beats[-1])) if len(beats) else None


def beat_lead_index(record: Record, settings: PrepSettings) -> int:
    """Index in ``record.signal`` of the lead beats are cut on (the model's first)."""
    return record.lead_index(settings.leads[0]) if settings.leads else 0


def labelled_window_text(start_minutes: float, minutes: float) -> str:
    """How the labelled minutes are named in notes, errors and the report."""
    if start_minutes == 0:
        return f"first {minutes:g} minutes"
    return f"{minutes:g} minutes from minute {start_minutes:g}"


#: leads that stand in for a model's lead a record lacks, each with why: read with a note, never silently
STAND_IN_LEADS = {"MLII": {"II": "lead II, of which MIT-BIH's MLII is a modified form",
                           "ECG1": "a Holter's first channel, in SVDB a modified lead II"}}


def stand_in_lead(model_lead: str, record_leads: list[str]) -> str | None:
    """The record's lead that stands in for ``model_lead`` when the record lacks it (``STAND_IN_LEADS``), if any."""
    lowered = {name.lower(): name for name in record_leads}
    return next((lowered[c.lower()] for c in STAND_IN_LEADS.get(model_lead, {}) if c.lower() in lowered), None)


def load_beat_model(path: str | Path) -> tuple[EcgModel, dict[str, Any]]:
    """A beat classifier's checkpoint with what the engine needs to run it: its preprocessing settings (the beats it
    reads) and as many leads in them as the network takes; a ConfigError naming the file otherwise."""
    model, meta = load_checkpoint(path)
    prep = meta.get("prep")
    if not isinstance(prep, dict):
        raise ConfigError(f"{path}: not a beat model: the checkpoint holds no preprocessing settings (a population "
                          "model from `ecgadapt population train` or `personalize` carries them)")
    try:
        settings = PrepSettings.from_dict(prep)
    except (TypeError, EcgAdaptError) as err:
        raise ConfigError(f"{path}: the checkpoint's preprocessing settings are unreadable ({err})") from err
    if settings.task != "beats":
        raise ConfigError(f"{path}: a model of {settings.task}, not of beats: `personalize` and `annotate` classify "
                          "beats")
    if settings.leads and len(settings.leads) != model.in_leads:
        raise ConfigError(f"{path}: the network reads {model.in_leads} lead(s), its preprocessing settings name "
                          f"{len(settings.leads)} ({', '.join(settings.leads)})")
    return model, meta


def load_patient(path: str | Path, model_meta: dict[str, Any], *, lead: str | None = None,
                 beats: str = "auto", annotation: str = "atr", labels: str | Path | None = None) -> PatientRecord:
    """A WFDB record, or a one-file recording (EDF/BDF, ISHNE: ``data.formats``), cut into beats the way
    ``model_meta["prep"]`` says (resampled to the model's rate if needed). Its beat labels are the annotation file's
    (extension ``annotation``), or ``labels``: a CSV file of them (``data.label_csv``), read in its place."""
    if beats not in ("auto", "annotated", "detected"):  # before the record is read: a day-long one takes seconds
        raise ConfigError(f"beats={beats!r}; allowed: auto, annotated, detected")
    if labels is not None and annotation != "atr":  # two sources of the same labels: neither may win unsaid
        raise ConfigError(f"{labels}: the beat labels come from this file or from the annotation file "
                          f"(extension {annotation!r}), not both: give --labels or --annotation")
    path = wfdb_record_path(path)
    settings = PrepSettings.from_dict(model_meta["prep"])
    # the leads are found in the header first, and only those the model reads are read: a 12-lead day-long Holter at
    # 1 kHz is gigabytes per lead once in memory. Only they must be valid, too: a lead off for a while, or a dead
    # channel the model does not read, must not cost the whole recording
    fmt = file_format(path)  # a one-file recording (PATIENT.edf, annotations in PATIENT.atr), else a WFDB record
    if fmt:
        header, channel_info = None, fmt.channels(path)
        name, file_leads = path.stem, channel_info.names
        file_fs = channel_info.rates[0] if channel_info.rates else 0.0
        start_time = channel_info.start_time
    else:
        header = read_header(path)
        name, file_leads, file_fs = path.name, header_leads(path, header), float(header.fs)
        start_time = getattr(header, "base_time", None)  # the header's optional "base time"
    listing = Record(database=fmt.name if fmt else "wfdb", name=name, subject=name,
                     signal=np.zeros((len(file_leads), 0)), fs=file_fs, leads=file_leads, path=path)
    trained, why = tuple(settings.leads or ()), ""
    if lead is None and trained:  # the model's first lead missing: its stand-in (said), or an error naming the record
        try:
            listing.lead_index(trained[0])
        except RecordError as err:  # a Holter's leads are seldom named as MIT-BIH's: say how to use one of them
            lead = stand_in_lead(trained[0], listing.leads)
            if lead is None:
                raise RecordError(err.path, f"{err.problem}; --lead NAME (lead= in Python) reads one of the record's "
                                  f"leads in place of {trained[0]}") from err
            why = f" (its stand-in: {STAND_IN_LEADS[trained[0]][lead]}; --lead NAME reads another)"
    notes = []
    if lead is not None:  # in place of the model's first lead (the one beats are cut on)
        settings = replace(settings, leads=(lead, *trained[1:]))
        notes.append(f"lead {lead} used in place of the model's {trained[0] if trained else 'first lead'}{why}")
    if fmt:
        notes += channel_info.notes
    else:
        read = {n.lower() for n in (settings.leads or file_leads)}
        # gain 0 is WFDB's "uncalibrated": amplitudes are ADC units / 200, not millivolts (beats are z-scored per
        # record, so classes do not change; amplitudes in the report do)
        uncalibrated = [n for n in uncalibrated_leads(path) if n.lower() in read]
        if uncalibrated:
            notes.append(f"lead(s) {', '.join(uncalibrated)} uncalibrated (header gain 0): amplitudes read at WFDB's "
                         "default 200 units/mV")
        inverted = [f"{n} ({gain:g})" for n, gain in zip(file_leads, getattr(header, "adc_gain", None) or [])
                    if n.lower() in read and gain is not None and gain < 0]
        if inverted:  # legal WFDB, and it turns the lead over: a beat's shape, and so its class, changes with it
            notes.append(f"WARNING: lead(s) {', '.join(inverted)} have a negative gain in the header, so they are read "
                         "upside down; if the recorder did not invert them, the header is wrong and so are the classes")
    absent = missing_leads(listing, settings)
    for missing in absent:
        notes.append(f"lead {missing} missing: a flat channel in its place (the model was trained with lead dropout "
                     "to do without it)")
    channels = list(dict.fromkeys(listing.lead_index(lead_name) for lead_name in settings.leads
                                  if lead_name not in absent)) \
        if settings.leads else None  # once each: wfdb fails on a channel asked for twice
    signal, fs, leads = fmt.read(path, channels) if fmt else \
        read_wfdb_signal(path, check_leads=False, channels=channels)[:3]
    ann_file, ann_extension = annotation_file(path, annotation)
    if labels is not None:  # a CSV file of beat labels in place of the annotation file
        ann_file = Path(labels)
        ann = within_signal(read_label_csv(ann_file, fs), ann_file, signal.shape[1])
        notes.append(f"{len(ann.sample)} beat labels read from {ann_file.name} ({ann.sample[0] / fs / 60:.2f} to "
                     f"{ann.sample[-1] / fs / 60:.2f} min)")
    elif fmt:
        ann = annotations_within(path.with_suffix(""), ann_extension, signal.shape[1], required=False)
        if ann is not None and ann_extension != annotation:
            notes.append(f"beat annotations read from {ann_file.name} ({fmt.name} annotations)")
        elif ann is None and fmt.read_annotations is not None:  # no file beside it: the labels the file holds, if any
            ann = fmt.read_annotations(path, fs)
            if ann is not None:
                ann = within_signal(ann, path, signal.shape[1])
                ann_file = path
                notes.append(f"beat annotations read from {path.name}'s own ({fmt.name}) annotations: "
                             f"{int(ann.beat_mask().sum())} beat labels")
    else:
        ann = annotations_within(path, annotation, signal.shape[1], required=False)
    check_signal(signal, leads, path, allow_gaps=True)
    if ann is not None and labels is None:  # an annotation file beside the record: is it this record's?
        on_qrs = annotations_on_qrs(fill_gaps(signal[:1])[0], fs, ann.sample[ann.beat_mask()])
        if on_qrs is not None and on_qrs < ANNOTATIONS_ON_QRS_MIN:
            raise RecordError(ann_file, f"only {on_qrs:.0%} of its beats lie on a QRS complex of lead {leads[0]} (a "
                                        "record's own annotations: 85 % or more): the annotation file of another "
                                        "record?")
    per_frame = getattr(header, "samps_per_frame", None) or []  # a multi-frequency record (segments: none)
    for c in channels if channels is not None else range(len(per_frame)):
        if c < len(per_frame) and (per_frame[c] or 1) > 1:
            notes.append(f"lead {listing.leads[c]} has {per_frame[c]} samples a frame ({per_frame[c] * fs:g} Hz): "
                         f"read as wfdb does, each frame's samples averaged, at the frame rate ({fs:g} Hz)")
    flat = [(i, a, b) for i in range(len(signal)) for a, b in flat_stretches(signal[i], fs)]
    if flat:  # no heart recorded there: as invalid samples, so that no pause or beat is read into it
        for i, a, b in flat:  # the readers give float32 in physical units
            signal[i, a:b] = np.nan
        notes.append(f"lead(s) {', '.join(dict.fromkeys(leads[i] for i, _, _ in flat))} hold one value for "
                     f"{FLAT_LINE_S:g} s or more in {len(flat)} stretch(es), {sum(b - a for _, a, b in flat) / fs:.1f} "
                     "s in all (a lead off, or the signal beyond the amplifier's range): taken as invalid samples")
    nan = np.isnan(signal)  # once: a day-long lead is tens of millions of samples
    invalid_leads, invalid = np.flatnonzero(nan.any(axis=1)), nan.any(axis=0)
    del nan
    if invalid.any():
        signal = fill_gaps(signal)  # so that the filters can run; the beats there are marked below
    record = Record(database=listing.database, name=name, subject=name, signal=signal, fs=fs, leads=leads, path=path,
                    annotations=ann, rhythms=rhythm_intervals(ann, signal.shape[1]) if ann is not None else [],
                    meta={"leads_in_file": listing.leads, "start_time": start_time})
    model_fs = float(model_meta["fs"])
    if abs(fs - model_fs) > 1e-6:
        settings = replace(settings, target_fs=model_fs)
        notes.append(f"record sampled at {fs:g} Hz, resampled to the model's {model_fs:g} Hz")
    span = annotated_span(ann)
    has_beats = span is not None
    if beats == "annotated" and not has_beats:
        raise RecordError(ann_file, ("no annotation file" if ann is None else "no beat annotations in it") +
                          ": use beats='detected'")
    source = "annotated" if beats == "annotated" or (beats == "auto" and has_beats) else "detected"
    if ann is not None and not has_beats:  # e.g. an AF database's .atr: rhythm changes only
        notes.append(f"{ann_file.name} holds no beat annotations (rhythm or other events only): no beat labels")
    if source == "detected":
        notes.append("R peaks from neurokit2's detector" +
                     (f"; reference labels matched within {MATCH_TOLERANCE_S * 1000:.0f} ms" if has_beats else ""))
    if source == "annotated" and beats == "auto" and (span[0] / fs > UNANNOTATED_MARGIN_S or
                                                      record.duration_s - span[1] / fs > UNANNOTATED_MARGIN_S):
        # the clinical case: a cardiologist labelled a few minutes only. The rest must still be classified
        source = "annotated+detected"
        notes.append(f"beats annotated from {span[0] / fs / 60:.2f} to {span[1] / fs / 60:.2f} min of "
                     f"{record.duration_s / 60:.2f}: R peaks outside that from neurokit2's detector")
    settings = replace(settings, peaks=source)
    arrays = record_arrays(record, settings)
    sample = np.asarray(arrays["position"], dtype=np.int64)
    beat_set = BeatSet(np.asarray(arrays["X"], dtype=np.float32), np.asarray(arrays["rr"], dtype=np.float32),
                       np.asarray(arrays["y"], dtype=np.int64), sample / fs, np.zeros(len(sample), dtype=np.int64))
    in_gap = beats_touching(invalid, sample, fs, settings.beat_before_s, settings.beat_after_s)
    gaps = invalid_stretches(invalid, fs)
    if gaps:
        beat_set.y[in_gap] = -1  # the window the model would read is interpolated: no evidence either way
        notes.append(f"{invalid.sum() / fs:.1f} s of invalid samples (lead off?) in {len(gaps)} stretch(es) of "
                     f"lead(s) {', '.join(leads[i] for i in invalid_leads)}, interpolated: the "
                     f"{int(in_gap.sum())} beats whose window touches them are labelled Q (unclassifiable) and "
                     "neither adapt nor score the model")
    agreement = detected_beat_agreement(record, settings, sample, source, span)
    poor = agreement < POOR_AGREEMENT  # NaN (annotated beats): False
    if poor.any():
        windows = np.unique(sample[poor] // int(round(QUALITY_WINDOW_S * fs))).size
        notes.append(f"{int(poor.sum())} detected beats lie in {windows} window(s) of {QUALITY_WINDOW_S:g} s where "
                     f"R-peak detectors agree on fewer than {POOR_AGREEMENT:.0%} of the beats: noise, a rhythm "
                     "without clear QRS complexes (ventricular flutter), or R peaks found on other waves (P waves). "
                     "Their classes are unreliable and some may be no beats at all (beats.csv: "
                     "poor_signal)")
    flutter = flutter_stretches(record.rhythms, fs) if source != "detected" else []
    missed = missed_beat_stretches(record, settings, sample, agreement, poor)
    if missed:
        notes.append(f"{len(missed)} interval(s) of {PAUSE_S:g} s or more between detected beats hold a beat another "
                     "R-peak detector finds: missed beats, not pauses (left out of the pauses)")
    return PatientRecord(record, beat_set, sample, settings, in_gap, agreement, notes, source, span, gaps + flutter,
                         missed, ann_file if ann is not None else None)


def flutter_stretches(rhythms: list[RhythmInterval], fs: float) -> list[tuple[float, float]]:
    """(start, end) in s of the annotators' ventricular flutter episodes: their waves have no beat annotations."""
    return [(r.start / fs, r.end / fs) for r in rhythms if r.label.startswith("(VFL")]


def missed_beat_stretches(record: Record, settings: PrepSettings, sample: np.ndarray, agreement: np.ndarray,
                          poor: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) in s of the intervals of ``PAUSE_S`` or more next to a detected beat (``agreement`` finite), with
    neither beat in ``poor`` signal (such an interval is no pause anyway), in which another detector finds a beat
    (``signal.quality.beats_inside``)."""
    long = np.flatnonzero((np.diff(sample) >= PAUSE_S * record.fs) & ~poor[:-1] & ~poor[1:] &
                          (np.isfinite(agreement[:-1]) | np.isfinite(agreement[1:])))
    if not len(long):
        return []
    lead = record.signal[beat_lead_index(record, settings)]
    found = beats_inside(lead, record.fs, np.column_stack([sample[long], sample[long + 1]]))
    return [(sample[i] / record.fs, sample[i + 1] / record.fs) for i in long[found > 0]]


def detected_beat_agreement(record: Record, settings: PrepSettings, sample: np.ndarray, source: str,
                            span: tuple[int, int] | None) -> np.ndarray:
    """Detector agreement (``signal.quality``) of each detected beat, on the lead beats are cut on; NaN for annotated
    beats (those within ``span``, the first and last annotated beat, when ``source`` is "annotated+detected")."""
    agreement = np.full(len(sample), np.nan, dtype=np.float32)
    if source == "annotated":
        return agreement
    detected = np.ones(len(sample), bool)
    if source == "annotated+detected" and span is not None:
        detected = (sample < span[0]) | (sample > span[1])
    if detected.any():
        lead = record.signal[beat_lead_index(record, settings)]
        agreement[detected] = beat_agreement(lead, record.fs, sample)[detected]
    return agreement


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


def invalid_stretches(invalid: np.ndarray, fs: float) -> list[tuple[float, float]]:
    """(start, end) in s of each run of invalid samples."""
    if not invalid.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], invalid.astype(np.int8), [0]])))
    return [(float(a) / fs, float(b) / fs) for a, b in zip(edges[::2], edges[1::2])]


def beats_touching(invalid: np.ndarray, sample: np.ndarray, fs: float, before_s: float, after_s: float) -> np.ndarray:
    """Which beats' windows (``before_s`` before to ``after_s`` after the R peak) hold an invalid sample."""
    if not invalid.any():  # the usual case: no running count (8 bytes a sample) over a day-long record
        return np.zeros(len(sample), dtype=bool)
    count = np.concatenate([[0], np.cumsum(invalid)])
    lo = np.clip(sample - int(round(before_s * fs)), 0, len(invalid))
    hi = np.clip(sample + int(round(after_s * fs)) + 1, 0, len(invalid))
    return count[hi] - count[lo] > 0


@dataclass
class PersonalizeResult:
    out: Path
    model: EcgModel
    decision: GuardDecision | None
    summary: dict[str, Any]
    beats: pd.DataFrame


def personalize_record(model_path: str | Path, record_path: str | Path, out: str | Path, *, labelled_minutes: float = 5.0,
                       labelled_start: float = 0.0, method: str = "finetune", params: dict[str, Any] | None = None,
                       guard: bool = True,
                       lead: str | None = None, beats: str = "auto", population: BeatSet | None = None,
                       seed: int = 0, cache_dir: Path | None = None,
                       reference_path: str | Path | None = None, annotation: str = "atr",
                       labels: str | Path | None = None, false_detection_filter: bool = True) -> PersonalizeResult:
    """``reference_path``: a model the guard compares against and falls back to instead of ``model_path`` (e.g. the
    MLII model while adapting an MLII + V1 one); the report's "population" predictions are then that model's.
    ``annotation``: the extension of the record's beat annotation file; ``labels``: a CSV file of beat labels read in
    its place (``data.label_csv``), e.g. ``annotate``'s ``beats.csv`` with a reviewer's ``label`` column.
    ``labelled_start``: the minute of the record the labelled minutes start at (0: its first minutes); the beats
    before and after them are the unlabelled rest.
    ``false_detection_filter``: where beats come from the detector, remove the detections the labelled minutes show
    or teach to be no beats (``personalize.false_detections``)."""
    t_start = time.perf_counter()
    out = output_folder(out)
    model, meta = load_beat_model(model_path)
    reference, reference_meta = None, None
    if reference_path is not None:
        from ecgadapt.personalize.population import load_reference

        reference, reference_meta, reference_path = load_reference(reference_path, meta)
    baseline = reference if reference is not None else model  # what the patient gets without personalization
    label_names = tuple(meta.get("label_names", AAMI_CLASSES))
    strategy = get_strategy(method, **(params or {}))
    if labelled_minutes < 0:
        raise ConfigError(f"labelled minutes = {labelled_minutes:g}: must be 0 or more")
    if labelled_start < 0:
        raise ConfigError(f"labelled start = {labelled_start:g}: the minute the labelled minutes start at must be 0 or "
                          "more")
    if labelled_minutes == 0 and strategy.needs_labels:
        raise ConfigError(f"labelled minutes = 0: a supervised strategy ({method}) needs labelled minutes of the "
                          "record (> 0); unsupervised ones (dann, mmd, coral, pseudolabel) also run with 0")
    window = labelled_window_text(labelled_start, labelled_minutes)
    elsewhere = "outside the labelled minutes" if labelled_start else "after the labelled minutes"  # the rest
    t0 = time.perf_counter()
    patient = load_patient(record_path, meta, lead=lead, beats=beats, annotation=annotation, labels=labels)
    t_read = time.perf_counter() - t0
    rec = patient.record
    start_s, end_s = labelled_start * 60.0, (labelled_start + labelled_minutes) * 60.0
    if rec.duration_s < end_s:
        raise ConfigError(f"{rec.path}: the record lasts {rec.duration_s / 60:.2f} min, shorter than the "
                          f"{labelled_minutes:g} labelled minutes asked for" +
                          (f" from minute {labelled_start:g}" if labelled_start else ""))
    found = labelled_detections(patient, start_s, end_s)
    detector = found.agreement() if found is not None else None  # the detector as it is, before any is removed
    false_check, false_removed, learnt_filter = None, None, None
    if false_detection_filter:
        patient, false_check, false_removed, learnt_filter = remove_false_detections(patient, baseline, found, start_s,
                                                                                     end_s)
    in_labelled = (patient.beats.time_s >= start_s) & (patient.beats.time_s < end_s)
    labelled = patient.beats.subset(np.flatnonzero(in_labelled))
    # gap beats: nothing to adapt to; poor-signal beats: perhaps noise, which the patient's beats must not be adapted to
    rest_index = np.flatnonzero(~in_labelled & ~patient.in_gap & ~patient.poor_signal)
    rest = patient.beats.subset(rest_index)
    unlabelled = BeatSet(rest.X, rest.rr, np.full(len(rest), -1), rest.time_s, rest.patient)  # labels hidden
    warnings = list(patient.notes)
    if reference is not None:
        warnings.append(f"the guard compares against, and falls back to, {Path(reference_path).name} "
                        f"({', '.join(reference_meta['prep']['leads'] or [])}); the population column is that model's")
    if strategy.needs_labels and not (labelled.y >= 0).any():
        in_gap = int(patient.in_gap[in_labelled].sum())
        why = (f"no annotation file ({rec.name}.{annotation}), so the {labelled_minutes:g} labelled minutes have no labels"
               if rec.annotations is None else
               f"the {in_gap} beats annotated in the {window} all lie where a lead the model reads holds no signal "
               "(invalid samples or a flat line), so they have no labels" if in_gap else
               f"{patient.labels_file.name} has no beat annotation in the {window}, so they have no labels")
        raise ConfigError(f"{rec.path}: {why}: labels are required for supervised strategies ({method}); "
                          "unsupervised ones (dann, mmd, coral, pseudolabel) still run")
    if rec.annotations is None:
        warnings.append("record has no reference annotations: nothing to score against, and the guard cannot check")
    span = patient.annotated_span
    if patient.beat_source == "annotated+detected" and span is not None and labelled_minutes > 0 and (
            span[0] / rec.fs - start_s > UNANNOTATED_MARGIN_S or end_s - span[1] / rec.fs > UNANNOTATED_MARGIN_S):
        warnings.append(f"the annotations cover {span[0] / rec.fs / 60:.2f} to {span[1] / rec.fs / 60:.2f} min, not "
                        f"all of the labelled minutes ({labelled_start:g} to {end_s / 60:g} min): the beats of the "
                        "labelled minutes outside them are unlabelled and not used to adapt")
    if detector is not None:
        warnings.append(f"the R-peak detector against the labelled beats of the {window}: it finds {detector.tp} of "
                        f"{detector.tp + detector.fn} (sensitivity {detector.sensitivity:.3f}), and {detector.fp} of its "
                        f"beats have no labelled beat within {MATCH_TOLERANCE_S * 1000:.0f} ms (positive predictivity "
                        f"{detector.ppv:.3f}): the detected beats {elsewhere} hold misses and false beats at about "
                        "these rates, and so do their counts, burden and heart rate variability" +
                        (" (before the false detections below are removed)" if false_check is not None else ""))
    if false_check is not None:
        warnings.append(false_check.note(window, elsewhere))
    present = set(labelled.y[labelled.y >= 0].tolist())
    missing = [c for i, c in enumerate(label_names) if i not in present and c != "Q"]
    if rec.annotations is not None and missing and labelled_minutes > 0:  # none labelled: nothing to remark on
        warnings.append(f"no {', '.join(missing)} beats in the labelled minutes: the personalized model learns "
                        "nothing patient-specific about " + ("that class" if len(missing) == 1 else "those classes"))
    if strategy.needs_population and population is None:
        raise ConfigError(f"method {method!r} needs population beats: pass --population with the MIT-BIH folder")
    context = AdaptContext(label_names, population, seed, cache_dir)
    out.mkdir(parents=True, exist_ok=True)  # only now: bad input above leaves no empty output folder behind
    t0 = time.perf_counter()
    if guard:
        adapted, decision = NegativeTransferGuard(strategy, reference=reference).adapt(model, labelled, unlabelled,
                                                                                        context)
    else:
        adapted, decision = strategy.adapt(model, labelled, unlabelled, context), None
    t_adapt = time.perf_counter() - t0
    t0 = time.perf_counter()
    known = decision.rest_probabilities if decision is not None and decision.kept == "personalized" else None
    p_pop = classify(baseline, patient, label_names, rest_index, known[0] if known else None)
    # the guard fell back to the baseline: the same model, one pass
    p_per = p_pop if adapted is baseline else classify(adapted, patient, label_names, rest_index,
                                                       known[1] if known else None)
    t_infer = time.perf_counter() - t0
    pred_pop, pred_per = p_pop.argmax(1), p_per.argmax(1)

    table = pd.DataFrame({"sample": patient.sample, "time_s": np.round(patient.beats.time_s, 4),
                          "part": np.where(in_labelled, "labelled", "rest"),
                          "reference": [label_names[c] if c >= 0 else "" for c in patient.beats.y],
                          "population": [label_names[c] for c in pred_pop],
                          "personalized": [label_names[c] for c in pred_per],
                          "confidence": np.round(p_per.max(1), 4), "signal_gap": patient.in_gap,
                          **patient.quality_columns()})
    atomic_write_text(out / "beats.csv", table.to_csv(index=False))
    _write_false_detections(out, false_removed)
    pred_file = _write_annotations(out, rec, patient.sample, pred_per, label_names)
    kept_meta = reference_meta if reference is not None and adapted is reference else meta
    save_checkpoint(adapted, out / "personalized.pt", **{**kept_meta, "personalized_for": str(rec.path),
                    "method": method, "params": strategy.params, "labelled_minutes": labelled_minutes,
                    "labelled_start": labelled_start,
                    "personalized_lead": lead,  # annotate reads the patient's other records on the same lead
                    # and removes from them the false detections the labelled minutes taught
                    "false_detection_filter": learnt_filter.to_state() if learnt_filter is not None else None,
                    # without its run time: identical runs give byte-identical model files (a batch's resume compares
                    # model files by content)
                    "guard": {k: v for k, v in decision.to_dict().items() if k != "seconds"} if decision else None})
    scores: dict[str, Any] = {}
    y = patient.beats.y
    for part, mask in (("rest", ~in_labelled), ("labelled", in_labelled)):
        if (y[mask] >= 0).any():
            scores[part] = {"population": aami_metrics(y[mask], pred_pop[mask], label_names),
                            "personalized": aami_metrics(y[mask], pred_per[mask], label_names)}
    q_rest = ~in_labelled & (y == label_names.index("Q")) if "Q" in label_names else np.zeros(len(y), dtype=bool)
    if q_rest.any():  # e.g. a paced patient: the AAMI figures may hold a handful of beats and say nothing of the rest
        q = label_names.index("Q")
        warnings.append(f"{int(q_rest.sum())} reference Q beats (paced or unclassifiable) {elsewhere} "
                        "are left out of the AAMI metrics; the population model calls "
                        f"{int((pred_pop[q_rest] == q).sum())} of them Q, the personalized model "
                        f"{int((pred_per[q_rest] == q).sum())}")
    summary = {"record": str(rec.path), "name": rec.name, "annotations": str(pred_file), "model": str(model_path),
               "reference": str(reference_path) if reference_path is not None else None,
               "labels": str(patient.labels_file) if patient.labels_file is not None else None,
               "method": method, "params": strategy.params,
               "labelled_minutes": labelled_minutes, "labelled_start": labelled_start, "labelled_window": window,
               "rest_is": elsewhere,
               "beats": int(len(y)), "labelled_beats": int(in_labelled.sum()),
               "unlabelled_beats": int(len(unlabelled)),  # what a transductive strategy adapts to
               "beat_source": patient.beat_source, "poor_signal_beats": int(patient.poor_signal.sum()),
               "detector_in_labelled_minutes": None if detector is None else {
                   "labelled_beats": detector.tp + detector.fn, "found": detector.tp, "false": detector.fp,
                   "sensitivity": round(detector.sensitivity, 4), "ppv": round(detector.ppv, 4)},
               "false_detections": None if false_check is None else false_check.to_dict(),
               "lead": list(patient.settings.leads or []),
               "guard": decision.to_dict() if decision else "off", "kept": decision.kept if decision else "personalized",
               "strategy_info": context.info, "changed_beats": int((pred_pop != pred_per).sum()), "scores": scores,
               "notes": warnings, "seconds": {"read_and_cut": round(t_read, 3), "adapt": round(t_adapt, 3),
                                              "inference": round(t_infer, 3),
                                              "total": round(time.perf_counter() - t_start, 3)}}
    holter = _write_holter(out, patient, table.personalized.to_numpy(), label_names)
    summary["holter"] = holter.totals  # of the personalized classes
    scored = ~in_labelled & ~patient.in_gap
    if scored.any() and (y[scored] >= 0).all():  # every beat of the rest has a reference: its Holter figures, too
        t = patient.beats.time_s[scored]
        # where beats were left out between two scored ones (the labelled minutes, a gap) their interval is no pause
        kept = np.flatnonzero(scored)
        skips = np.flatnonzero(np.diff(kept) > 1)
        left_out = [(float(t[k]), float(t[k + 1])) for k in skips]
        summary["holter_against_reference"] = {
            who: holter_summary(t, np.asarray(label_names)[classes[scored]], label_names,
                                unreadable_s=patient.unreadable_s + left_out).totals
            for who, classes in (("reference", y), ("population", pred_pop), ("personalized", pred_per))}
    atomic_write_json(out / "summary.json", summary)
    from ecgadapt.report.personalize_report import write_personalize_report

    write_personalize_report(out, patient, table, summary, label_names, holter, false_removed)
    return PersonalizeResult(out, adapted, decision, summary, table)


def _write_false_detections(out: Path, removed: pd.DataFrame | None) -> None:
    """``false_detections.csv``: the removed detections, where any were removed."""
    path = out / "false_detections.csv"
    if removed is not None and len(removed):
        atomic_write_text(path, removed.to_csv(index=False))
    else:
        path.unlink(missing_ok=True)  # an earlier run's into the same folder


def _write_holter(out: Path, patient: PatientRecord, classes: np.ndarray, label_names: tuple[str, ...]
                  ) -> HolterSummary:
    """The Holter summary of the whole recording's ``classes``, its tables written to ``out``."""
    return write_holter_tables(out, patient.beats.time_s, classes, label_names, poor_signal=patient.poor_signal,
                               duration_s=patient.record.duration_s, start_time=patient.record.meta.get("start_time"),
                               unreadable_s=patient.unreadable_s)


def _write_annotations(out: Path, record: Record, sample: np.ndarray, pred: np.ndarray,
                       label_names: tuple[str, ...]) -> Path:
    """``<name>.pred``: a WFDB annotation file (wfdb.rdann(out/name, 'pred') reads it back); for a recording whose
    format has annotation files of its own (ISHNE), also one of those (``<name>.ann``)."""
    name = record.name
    fmt = file_format(record.path)
    if fmt and fmt.write_annotations:
        fmt.write_annotations(out / f"{name}.{fmt.annotation_extensions[0]}", record.path, sample,
                              [label_names[c] for c in pred])
    symbols = [WFDB_SYMBOL.get(label_names[c], "Q") for c in pred]
    tmp = out / ".annotations.tmp"
    tmp.mkdir(exist_ok=True)
    wfdb.wrann(name, "pred", np.asarray(sample, dtype=np.int64), symbol=symbols, write_dir=str(tmp))
    target = out / f"{name}.pred"
    (tmp / f"{name}.pred").replace(target)  # atomic: a reader never sees half an annotation file
    tmp.rmdir()
    return target


def annotate_record(model_path: str | Path, record_path: str | Path, out: str | Path, *, lead: str | None = None,
                    beats: str = "auto", annotation: str = "atr", false_detection_filter: bool = True) -> dict[str, Any]:
    """Classify every beat of a record with a (personalized) model, no adaptation: ``<name>.pred``, ``beats.csv``, the
    Holter summary (``hourly.csv``, ``runs.csv``, ``pauses.csv``), ``report.html`` and ``summary.json`` (what this
    returns).

    Returns the timings, beat counts, the Holter summary's totals and notes (lead swapped, resampled). Used for the long
    recordings a personalized model is made for. ``false_detection_filter``: where the model carries a filter of
    false detections learnt by ``personalize`` and the beats are detected on the lead it was learnt on, remove the
    detections it calls no beat (``false_detections.csv``).
    """
    t0 = time.perf_counter()
    out = output_folder(out)
    model, meta = load_beat_model(model_path)
    label_names = tuple(meta.get("label_names", AAMI_CLASSES))
    notes = []
    if lead is None and meta.get("personalized_lead"):  # the patient's lead, e.g. II where the model read MLII
        lead = meta["personalized_lead"]
        notes.append(f"lead {lead}: the lead this model was personalized on (--lead to choose another)")
    patient = load_patient(record_path, meta, lead=lead, beats=beats, annotation=annotation)
    notes += patient.notes
    t_read = time.perf_counter() - t0
    patient, false_removed, false_info = _filter_false_detections(patient, model_path,
                                                                  meta.get("false_detection_filter"),
                                                                  false_detection_filter, notes)
    out.mkdir(parents=True, exist_ok=True)  # only now: bad input above leaves no empty output folder behind
    _write_false_detections(out, false_removed)
    probs = unclassifiable_as_q(predict_beats(model, patient.beats), patient.in_gap, label_names)
    pred = probs.argmax(1)
    t_infer = time.perf_counter() - t0 - t_read
    pred_file = _write_annotations(out, patient.record, patient.sample, pred, label_names)
    table = pd.DataFrame({"sample": patient.sample, "time_s": np.round(patient.beats.time_s, 4),
                          "predicted": [label_names[c] for c in pred], "confidence": np.round(probs.max(1), 4),
                          "signal_gap": patient.in_gap, **patient.quality_columns()})
    atomic_write_text(out / "beats.csv", table.to_csv(index=False))
    holter = _write_holter(out, patient, table.predicted.to_numpy(), label_names)
    info = {"record": str(patient.record.path), "name": patient.record.name, "annotations": str(pred_file),
            "model": str(model_path), "beats": int(len(pred)), "duration_s": patient.record.duration_s,
            "leads_in_record": len(patient.record.meta["leads_in_file"]), "lead": list(patient.settings.leads or []),
            "beat_source": patient.beat_source, "poor_signal_beats": int(patient.poor_signal.sum()), "notes": notes,
            "false_detections": false_info,
            "counts": {c: int((pred == i).sum()) for i, c in enumerate(label_names)}, "holter": holter.totals}
    from ecgadapt.report.annotate_report import write_recording_report

    write_recording_report(out, patient, table.predicted.to_numpy(), info, holter, false_removed)
    info["seconds"] = {"read_and_cut": t_read, "inference": t_infer, "total": time.perf_counter() - t0}
    atomic_write_json(out / "summary.json", info)  # for scripts: the counts, the notes and the Holter totals
    return info


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
