"""One patient's recording as a beat model reads it: the leads it was trained on (or their stand-ins), resampled to
its rate, cut into beats with their RR features, each beat marked where the signal is missing or poor.

Reading the recording and its labels is ``data.recording``'s; this is the cutting, the way the model's checkpoint says
(``PrepSettings``), and what the pipeline's steps need to know of each beat.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ecgadapt.data.recording import STAND_IN_LEADS, read_recording, read_recording_header, stand_in_lead
from ecgadapt.data.record import Annotations, Record, RhythmInterval
from ecgadapt.errors import ConfigError, EcgAdaptError, RecordError
from ecgadapt.holter import PAUSE_S
from ecgadapt.models.io import load_checkpoint
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import BeatSet
from ecgadapt.prepare import PrepSettings, missing_leads, record_arrays
from ecgadapt.rhythm.model import RHYTHM_TASK, checkpoint_task
from ecgadapt.signal import rr_features
from ecgadapt.signal.quality import (MATCH_TOLERANCE_S, POOR_AGREEMENT, QUALITY_WINDOW_S, beat_agreement,
                                     beats_inside)


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


def load_beat_model(path: str | Path) -> tuple[EcgModel, dict[str, Any]]:
    """A beat classifier's checkpoint with what the engine needs to run it: its preprocessing settings (the beats it
    reads) and as many leads in them as the network takes; a ConfigError naming the file otherwise."""
    model, meta = load_checkpoint(path)
    prep = meta.get("prep")
    if checkpoint_task(meta) == RHYTHM_TASK:
        raise ConfigError(f"{path}: a rhythm model, not of beats: give it to `ecgadapt rhythm predict --model` or "
                          "to --rhythm-model; --model takes a beat model")
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
    settings = PrepSettings.from_dict(model_meta["prep"])
    # the leads are found in the header first, and only those the model reads are read: a 12-lead day-long Holter at
    # 1 kHz is gigabytes per lead once in memory. Only they must be valid, too: a lead off for a while, or a dead
    # channel the model does not read, must not cost the whole recording
    head = read_recording_header(path)
    listing = head.listing()
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
    notes += head.notes + head.lead_notes(list(settings.leads or head.leads))
    absent = missing_leads(listing, settings)
    for missing in absent:
        notes.append(f"lead {missing} missing: a flat channel in its place (the model was trained with lead dropout "
                     "to do without it)")
    channels = list(dict.fromkeys(listing.lead_index(lead_name) for lead_name in settings.leads
                                  if lead_name not in absent)) \
        if settings.leads else None  # once each: wfdb fails on a channel asked for twice
    read = read_recording(head, channels, annotation=annotation, labels=labels)
    notes += read.notes
    record, invalid, ann_file = read.record, read.invalid, read.annotation_path
    ann, fs = record.annotations, record.fs
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
                     f"lead(s) {', '.join(read.invalid_leads)}, interpolated: the "
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
    rate = implausible_beat_rate(len(sample), record.duration_s - sum(b - a for a, b in gaps + flutter))
    if rate is not None:
        notes.append(rate)
    return PatientRecord(record, beat_set, sample, settings, in_gap, agreement, notes, source, span, gaps + flutter,
                         missed, read.labels_file)


#: beats a minute, on average over a recording, that a living heart keeps within (asystole and a stretch without
#: signal are not averaged in); outside it the sampling rate in the header, or the signal, is wrong
PLAUSIBLE_BPM = (20.0, 300.0)
#: readable signal shorter than this says too little of a heart rate to judge (a seconds-long test strip)
RATE_CHECK_MIN_S = 60.0


def implausible_beat_rate(beats: int, readable_s: float) -> str | None:
    """A WARNING note where ``beats`` in ``readable_s`` seconds of signal make an average rate no heart keeps up."""
    if readable_s < RATE_CHECK_MIN_S:
        return None
    bpm = 60.0 * beats / readable_s
    if PLAUSIBLE_BPM[0] <= bpm <= PLAUSIBLE_BPM[1]:
        return None
    return (f"WARNING: {beats} beats in {readable_s / 60:.1f} min of readable signal, {bpm:.0f} a minute on average: "
            f"no heart keeps that up ({PLAUSIBLE_BPM[0]:g}-{PLAUSIBLE_BPM[1]:g}); the header's sampling rate, or the "
            "signal, is likely wrong, and so are the classes, counts and heart rate")


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
