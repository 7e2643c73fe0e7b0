"""ISHNE Holter recordings (``PATIENT.ecg``, ISHNE 1.0) and their beat annotations (``PATIENT.ann``): the output format
of the International Society for Holter and Noninvasive Electrocardiology (Badilini et al., "The ISHNE Holter Standard
Output File Format", Ann Noninvasive Electrocardiol 1998), in which the THEW Holter databases and many Holter systems
export.

Read here, not with a library: the one Python reader (ishneholterlib 2020.5.29) reads every lead into float64 at once
and no longer runs on numpy 2. The file is the 8 bytes ``ISHNE1.0``; a CRC-16 (CCITT, initial value 0xFFFF) of the
rest of the header; a fixed header of 512 bytes, little-endian; a variable-length text block; then int16 samples,
interleaved lead by lead. Each lead's amplitude resolution (nV a unit) scales it to mV. Only the leads asked for are
converted, a piece at a time, from a memory map.

An annotation file has the same header after ``ANN  1.0``, then the sample number the annotations count from (uint32)
and 4 bytes an annotation: its label, an internal label, and the samples since the annotation before (uint16). A
timeout (``!``) marks a stretch without annotations; its samples count, it is not kept.
"""

from __future__ import annotations

import binascii
import datetime
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_bytes
from ecgadapt.data.reading import READ_CHUNK_VALUES, channel_names
from ecgadapt.data.formats import Channels, FileFormat, register_file_format
from ecgadapt.data.record import Annotations
from ecgadapt.errors import RecordError

MAGIC, ANN_MAGIC = b"ISHNE1.0", b"ANN  1.0"
HEADER_BYTES = 522
# fields 0-6: magic, CRC, variable block size, ECG size, variable block offset, ECG block offset, version; 7-11: first
# name, last name, ID, sex, race; 12-23: birth date, recording date, file date, start time (3 each); 24: leads; 25-60:
# lead specification, lead quality, amplitude resolution (12 each); 61-63: pacemaker, recorder type, sampling rate;
# 64-66: proprietary, copyright, reserved
_LAYOUT = struct.Struct("<8sHiiiih40s40s20shh3h3h3h3hh12h12h12hh40sh80s80s88s")
assert _LAYOUT.size == HEADER_BYTES

#: lead specification codes (the standard's table 1) of the leads an ECG model may know; 0 (unknown) and 1 (generic
#: bipolar, e.g. a Holter's CM5) have no name: ``ch<number>``
LEAD_NAMES = {2: "X", 3: "Y", 4: "Z", 5: "I", 6: "II", 7: "III", 8: "aVR", 9: "aVL", 10: "aVF", 11: "V1", 12: "V2",
              13: "V3", 14: "V4", 15: "V5", 16: "V6", 17: "ES", 18: "AS", 19: "AI"}
#: lead quality codes (table 2) a user should hear of; 0 unknown, 1 good
LEAD_QUALITY = {2: "intermittent noise", 3: "frequent noise", 4: "intermittent disconnection",
                5: "frequent disconnection"}
#: AAMI classes as ISHNE beat labels, for the annotation file of a model's classes: ISHNE has no label for fusion
#: beats, so F is written as unknown (U), like Q
AAMI_TO_ISHNE = {"N": "N", "S": "S", "V": "V", "F": "U", "Q": "U"}
#: ISHNE beat labels as WFDB annotation codes: N normal, V ventricular, S supraventricular premature, B bundle branch
#: block, P paced, U unknown beat, X artefact (WFDB's "isolated QRS-like artefact"). C (calibration) is no beat and
#: is dropped like a timeout.
ANN_SYMBOLS = {"N": "N", "V": "V", "S": "S", "B": "B", "P": "/", "U": "Q", "X": "|"}
_DROPPED = {"C", "!"}
#: an annotation: its label, an internal label, and the samples since the annotation before
_ANN_RECORD = np.dtype([("label", "u1"), ("internal", "u1"), ("toc", "<u2")])


@dataclass(frozen=True)
class IshneHeader:
    leads: list[str]
    lead_quality: list[int]
    resolution_nv: list[int]
    fs: float
    samples: int  # a lead
    data_offset: int
    notes: list[str]
    start_time: datetime.time | None  # of day; None where the header gives none (-9, the standard's "absent")


def read_ishne_header(path: str | Path, magic: bytes = MAGIC) -> IshneHeader:
    """The header of an ISHNE ECG (or, with ``ANN_MAGIC``, annotation) file, checked; RecordError naming the file and
    the problem."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(path, "file missing")
    size = path.stat().st_size
    with path.open("rb") as f:
        raw = f.read(HEADER_BYTES)
        if len(raw) < HEADER_BYTES:
            raise RecordError(path, f"too short for an ISHNE header ({len(raw)} bytes of {HEADER_BYTES})")
        fields = _LAYOUT.unpack(raw)
        if fields[0] != magic:
            raise RecordError(path, f"not an ISHNE {'annotation' if magic == ANN_MAGIC else 'Holter'} file "
                                    f"(it starts with {fields[0]!r}, not {magic!r})")
        var_size, ecg_size, _, data_offset = fields[2:6]
        if var_size < 0 or not HEADER_BYTES <= data_offset <= size:
            raise RecordError(path, f"broken header: variable block of {var_size} bytes, data from byte "
                                    f"{data_offset} of a {size}-byte file")
        crc_ok = binascii.crc_hqx(raw[10:] + f.read(max(data_offset - HEADER_BYTES, 0)), 0xFFFF) == fields[1]
    n_leads, fs = fields[24], float(fields[63])
    if magic == ANN_MAGIC:  # the annotations need only where they start; an ECG file's fields are checked with it
        return IshneHeader([], [], [], fs, 0, data_offset, [], None)
    if not 1 <= n_leads <= 12:
        raise RecordError(path, f"broken header: {n_leads} leads (1 to 12)")
    if fs <= 0:
        raise RecordError(path, f"broken header: sampling rate {fs:g} Hz")
    spec, quality, resolution = (list(fields[25 + 12 * k:25 + 12 * k + n_leads]) for k in range(3))
    names = channel_names([LEAD_NAMES.get(code) for code in spec], range(n_leads))
    names = [name if names.count(name) == 1 else f"{name}-ch{i}" for i, name in enumerate(names)]  # two V5 leads
    notes = [] if crc_ok else [f"{path.name}: the header's checksum does not match it (a damaged header, or one "
                               "written by a program that does not compute it); its fields are read as they are"]
    notes += [f"{path.name}: lead {names[i]} marked '{LEAD_QUALITY[q]}' in the header"
              for i, q in enumerate(quality) if q in LEAD_QUALITY]
    per_lead = (size - data_offset) // (2 * n_leads)
    # the standard's "ECG size" is read both as samples a lead and as samples in all; neither may exceed the file
    if per_lead * n_leads < ecg_size:
        raise RecordError(path, f"truncated: {size - data_offset} bytes of samples, the header promises "
                                f"{ecg_size} samples ({2 * ecg_size} bytes at least)")
    if per_lead == 0:
        raise RecordError(path, "no samples")
    if ecg_size not in (per_lead, per_lead * n_leads):
        notes.append(f"{path.name}: the header gives {ecg_size} samples, the file holds {per_lead} a lead: all "
                     "of them read")
    try:  # -9 is the standard's "absent"; writers that leave the field at zero mean the same
        start = datetime.time(*fields[21:24]) if any(fields[21:24]) else None
    except ValueError:
        start = None
    return IshneHeader(names, quality, resolution, fs, per_lead, data_offset, notes, start)


def ishne_channels(path: Path) -> Channels:
    header = read_ishne_header(path)
    return Channels(header.leads, [header.fs] * len(header.leads), header.notes, header.start_time)


def read_ishne_signal(path: Path, channels: Sequence[int] | None = None) -> tuple[np.ndarray, float, list[str]]:
    """float32 [channels, samples] in mV, the sampling rate and the leads' names."""
    header = read_ishne_header(path)
    chosen = list(channels) if channels is not None else list(range(len(header.leads)))
    bad = [f"{header.leads[c]} {header.resolution_nv[c]}" for c in chosen if header.resolution_nv[c] <= 0]
    if bad:
        raise RecordError(path, f"broken header: amplitude resolution (nV a unit) of lead(s) {', '.join(bad)}")
    n_leads = len(header.leads)
    samples = np.memmap(path, dtype="<i2", mode="r", offset=header.data_offset, shape=(header.samples, n_leads))
    signal = np.empty((len(chosen), header.samples), dtype=np.float32)
    step = max(READ_CHUNK_VALUES // n_leads, 1)
    for row, c in enumerate(chosen):
        scale = np.float32(header.resolution_nv[c] / 1e6)
        for start in range(0, header.samples, step):
            np.multiply(samples[start:start + step, c], scale, out=signal[row, start:start + step])
    del samples
    return signal, header.fs, [header.leads[c] for c in chosen]


def read_ishne_annotations(path: str | Path) -> Annotations:
    """An ISHNE annotation file's beats as WFDB-coded annotations; RecordError on a label the standard does not
    define."""
    path = Path(path)
    header = read_ishne_header(path, ANN_MAGIC)
    raw = path.read_bytes()[header.data_offset:]
    if len(raw) < 4 or (len(raw) - 4) % 4:
        raise RecordError(path, f"truncated: {len(raw)} bytes of annotations (4 for the first sample, then 4 an "
                                "annotation)")
    first = int(np.frombuffer(raw[:4], dtype="<u4")[0])
    records = np.frombuffer(raw[4:], dtype=_ANN_RECORD)
    labels = np.array([chr(c) for c in records["label"]], dtype="<U1")
    unknown = sorted(set(labels.tolist()) - set(ANN_SYMBOLS) - _DROPPED)
    if unknown:
        raise RecordError(path, f"unknown ISHNE annotation label(s) {', '.join(map(repr, unknown))} (known: "
                                f"{', '.join(sorted(set(ANN_SYMBOLS) | _DROPPED))})")
    sample = first + np.cumsum(records["toc"].astype(np.int64))
    keep = ~np.isin(labels, list(_DROPPED))
    return Annotations(sample=sample[keep], symbol=np.array([ANN_SYMBOLS[s] for s in labels[keep]], dtype=str),
                       aux=[""] * int(keep.sum()))


def write_ishne_annotations(path: Path, ecg_path: Path, sample: np.ndarray, classes: Sequence[str]) -> Path:
    """An ISHNE annotation file of beats at ``sample`` with AAMI ``classes``, for the ECG file ``ecg_path``: its
    header (the standard gives an annotation file the ECG file's header) under the annotation magic, the first beat's
    sample, then each beat's label and the samples since the one before (a gap longer than 16 bits of samples is
    carried by timeouts, ``!``, as the standard does). Written atomically."""
    with Path(ecg_path).open("rb") as f:
        header = bytearray(f.read(read_ishne_header(ecg_path).data_offset))
    sample = np.asarray(sample, dtype=np.int64)
    first = int(sample[0]) if len(sample) else 0
    labels, tocs = [], []
    for label, toc in zip((AAMI_TO_ISHNE[c] for c in classes), np.diff(sample, prepend=first)):
        while toc > 0xFFFF:  # the standard's way over a long gap
            labels.append("!")
            tocs.append(0xFFFF)
            toc -= 0xFFFF
        labels.append(label)
        tocs.append(int(toc))
    records = np.zeros(len(labels), dtype=_ANN_RECORD)
    records["label"] = [ord(c) for c in labels]
    records["internal"] = ord(" ")
    records["toc"] = tocs
    header[:8] = ANN_MAGIC
    header[8:10] = struct.pack("<H", binascii.crc_hqx(bytes(header[10:]), 0xFFFF))
    return atomic_write_bytes(path, bytes(header) + struct.pack("<I", first) + records.tobytes())


register_file_format(FileFormat("ISHNE Holter", (".ecg",), ishne_channels, read_ishne_signal,
                                annotation_extensions=("ann",), write_annotations=write_ishne_annotations))
