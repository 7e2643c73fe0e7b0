"""One recording and its beat labels, whatever the format: a WFDB record or a one-file recording (EDF/BDF, ISHNE:
``data.formats``), read in two steps so that only the leads wanted are ever in memory.

:func:`read_recording_header` lists the leads, rate and start time from the header alone; :func:`read_recording`
reads the chosen leads and the labels (the annotation file beside it, the format's own annotations, or a CSV file of a
cardiologist's labels), checks that the annotations belong to the signal, and marks invalid samples (NaN, flat lines).
Each thing done to fit the recording is said in ``notes``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgadapt.data.base import (annotations_within, check_signal, header_fields, header_leads, read_header,
                                read_wfdb_signal, rhythm_intervals, uncalibrated_leads, wfdb_record_path,
                                within_signal)
from ecgadapt.data.formats import FileFormat, annotation_file, file_format
from ecgadapt.data.label_csv import read_label_csv
from ecgadapt.data.record import Annotations, Record
from ecgadapt.errors import RecordError
from ecgadapt.signal import fill_gaps
from ecgadapt.signal.quality import ANNOTATIONS_ON_QRS_MIN, FLAT_LINE_S, annotations_on_qrs, flat_stretches

#: leads that stand in for a model's lead a record lacks, each with why: read with a note, never silently
STAND_IN_LEADS = {"MLII": {"II": "lead II, of which MIT-BIH's MLII is a modified form",
                           "ECG1": "a Holter's first channel, in SVDB a modified lead II"}}


def stand_in_lead(model_lead: str, record_leads: list[str]) -> str | None:
    """The record's lead that stands in for ``model_lead`` when the record lacks it (``STAND_IN_LEADS``), if any."""
    lowered = {name.lower(): name for name in record_leads}
    return next((lowered[c.lower()] for c in STAND_IN_LEADS.get(model_lead, {}) if c.lower() in lowered), None)


@dataclass
class RecordingHeader:
    """What a recording's header says, before any sample is read."""

    path: Path  # the WFDB record path (no extension), or the one-file recording
    format: FileFormat | None  # None: a WFDB record
    name: str
    leads: list[str]
    fs: float
    start_time: Any = None  # the header's optional start (base) time
    wfdb_header: Any = None  # wfdb's header of a WFDB record
    notes: list[str] = field(default_factory=list)  # what a one-file format's reader had to say of the channels

    def listing(self) -> Record:
        """The recording as a Record without samples: its leads, to look leads up by name."""
        return Record(database=self.format.name if self.format else "wfdb", name=self.name, subject=self.name,
                      signal=np.zeros((len(self.leads), 0)), fs=self.fs, leads=self.leads, path=self.path)

    def lead_notes(self, read: list[str]) -> list[str]:
        """Notes on the leads ``read`` that the header says are uncalibrated or inverted (WFDB records)."""
        if self.format:
            return []
        wanted = {n.lower() for n in read}
        notes = []
        # gain 0 is WFDB's "uncalibrated": amplitudes are ADC units / 200, not millivolts (beats are z-scored per
        # record, so classes do not change; amplitudes in the report do)
        uncalibrated = [n for n in uncalibrated_leads(self.path) if n.lower() in wanted]
        if uncalibrated:
            notes.append(f"lead(s) {', '.join(uncalibrated)} uncalibrated (header gain 0): amplitudes read at WFDB's "
                         "default 200 units/mV")
        inverted = [f"{n} ({gain:g})" for n, gain in zip(self.leads, getattr(self.wfdb_header, "adc_gain", None) or [])
                    if n.lower() in wanted and gain is not None and gain < 0]
        if inverted:  # legal WFDB, and it turns the lead over: a beat's shape, and so its class, changes with it
            notes.append(f"WARNING: lead(s) {', '.join(inverted)} have a negative gain in the header, so they are read "
                         "upside down; if the recorder did not invert them, the header is wrong and so are the classes")
        return notes


def read_recording_header(path: str | Path) -> RecordingHeader:
    """The header of a WFDB record (``path`` with or without an extension) or of a one-file recording."""
    path = wfdb_record_path(path)
    fmt = file_format(path)  # a one-file recording (PATIENT.edf, annotations in PATIENT.atr), else a WFDB record
    if fmt:
        channel_info = fmt.channels(path)
        return RecordingHeader(path, fmt, path.stem, channel_info.names,
                               channel_info.rates[0] if channel_info.rates else 0.0, channel_info.start_time,
                               notes=list(channel_info.notes))
    header = read_header(path)
    start, notes = header_start_time(path, getattr(header, "base_time", None))
    return RecordingHeader(path, None, path.name, header_leads(path, header), float(header.fs), start, header, notes)


def header_start_time(path: Path, base_time: Any) -> tuple[Any, list[str]]:
    """The recording's start time of day, and a note where the header had to be read otherwise than wfdb reads it.
    WFDB writes the time before the date; CinC 2020's headers write the date first ("15-May-2020 15:35:30"), and
    wfdb then takes the day of the month for the clock (00:00:15)."""
    fields = next(iter(header_fields(path.with_name(path.name + ".hea"))), [])
    if len(fields) >= 6 and ":" not in fields[4] and ":" in fields[5]:
        try:
            start = datetime.datetime.strptime(fields[5], "%H:%M:%S").time()
        except ValueError:
            return None, [f"start time: the header's record line gives {fields[4]} {fields[5]}, which is no "
                          "date and time WFDB writes: the start time is unknown"]
        return start, [f"start time {start}: the header gives its date before its time ({fields[4]} {fields[5]}), "
                       "which WFDB writes the other way round"]
    return base_time, []


@dataclass
class RecordingRead:
    """A recording's leads as read: invalid samples (NaN, flat lines) interpolated in ``record.signal`` and marked in
    ``invalid``."""

    record: Record
    notes: list[str]
    annotation_path: Path | None  # where the beat labels were read, or looked for (None: not looked for)
    invalid: np.ndarray  # per sample: a lead read holds no signal there
    invalid_leads: list[str]

    @property
    def labels_file(self) -> Path | None:
        """The file the beat labels were read from; None: there were none."""
        return self.annotation_path if self.record.annotations is not None else None


def read_recording(head: RecordingHeader, channels: list[int] | None, *, annotation: str | None = "atr",
                   labels: str | Path | None = None) -> RecordingRead:
    """Leads ``channels`` of the recording (None: all) and its beat labels: the annotation file (extension
    ``annotation``), the format's own annotations, or ``labels``: a CSV file of them (``data.label_csv``) read in its
    place. An annotation file whose beats do not lie on the signal's QRS complexes is an error naming it.
    ``annotation`` None: the signal only, no labels looked for (a rhythm model's short recordings)."""
    path, fmt, notes = head.path, head.format, []
    signal, fs, leads = fmt.read(path, channels) if fmt else \
        read_wfdb_signal(path, check_leads=False, channels=channels)[:3]
    ann_file, ann_extension = annotation_file(path, annotation) if annotation is not None else (None, None)
    ann: Annotations | None
    if annotation is None:
        ann = None
    elif labels is not None:  # a CSV file of beat labels in place of the annotation file
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
    if ann is not None:
        notes += ann.notes
    check_signal(signal, leads, path, allow_gaps=True)
    if ann is not None and labels is None:  # an annotation file beside the record: is it this record's?
        on_qrs = annotations_on_qrs(fill_gaps(signal[:1])[0], fs, ann.sample[ann.beat_mask()])
        if on_qrs is not None and on_qrs < ANNOTATIONS_ON_QRS_MIN:
            raise RecordError(ann_file, f"only {on_qrs:.0%} of its beats lie on a QRS complex of lead {leads[0]} (a "
                                        "record's own annotations: 85 % or more): the annotation file of another "
                                        "record?")
    per_frame = getattr(head.wfdb_header, "samps_per_frame", None) or []  # a multi-frequency record (segments: none)
    for c in channels if channels is not None else range(len(per_frame)):
        if c < len(per_frame) and (per_frame[c] or 1) > 1:
            notes.append(f"lead {head.leads[c]} has {per_frame[c]} samples a frame ({per_frame[c] * fs:g} Hz): "
                         f"read as wfdb does, each frame's samples averaged, at the frame rate ({fs:g} Hz)")
    flat = [(i, a, b) for i in range(len(signal)) for a, b in flat_stretches(signal[i], fs)]
    if flat:  # no heart recorded there: as invalid samples, so that no pause or beat is read into it
        for i, a, b in flat:  # the readers give float32 in physical units
            signal[i, a:b] = np.nan
        notes.append(f"lead(s) {', '.join(dict.fromkeys(leads[i] for i, _, _ in flat))} hold one value for "
                     f"{FLAT_LINE_S:g} s or more in {len(flat)} stretch(es), {sum(b - a for _, a, b in flat) / fs:.1f} "
                     "s in all (a lead off, or the signal beyond the amplifier's range): taken as invalid samples")
    nan = np.isnan(signal)  # once: a day-long lead is tens of millions of samples
    invalid_leads, invalid = [leads[i] for i in np.flatnonzero(nan.any(axis=1))], nan.any(axis=0)
    del nan
    if invalid.any():
        signal = fill_gaps(signal)  # so that the filters can run; the beats there are marked by the caller
    record = Record(database=head.listing().database, name=head.name, subject=head.name, signal=signal, fs=fs,
                    leads=leads, path=path, annotations=ann,
                    rhythms=rhythm_intervals(ann, signal.shape[1]) if ann is not None else [],
                    meta={"leads_in_file": head.leads, "start_time": head.start_time})
    return RecordingRead(record, notes, ann_file, invalid, invalid_leads)


def record_files(path: str | Path, annotation: str | None = None) -> list[Path]:
    """The files reading a recording touches: a WFDB record's header and signal files (a multi-segment record's: each
    segment's header and signal files), or the one file of an EDF/ISHNE recording; and, if present, its annotation
    file. Only files that exist are listed (a missing one is the reader's error to report)."""
    path = Path(path)
    files = [path] if file_format(path) else _wfdb_files(path)
    if annotation is not None:
        files.append(annotation_file(path, annotation)[0])
    return [f for f in dict.fromkeys(files) if f.is_file()]


def _wfdb_files(path: Path) -> list[Path]:
    hea = path.with_name(path.name + ".hea")
    if not hea.is_file():
        return []
    files = [hea]
    try:
        header = read_header(path)
    except RecordError:
        return files
    for segment in getattr(header, "seg_name", None) or []:
        if segment != "~":
            files += _wfdb_files(path.parent / segment)
    files += [path.parent / name for name in getattr(header, "file_name", None) or [] if name != "~"]
    return files
