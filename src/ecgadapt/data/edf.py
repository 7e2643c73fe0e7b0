"""EDF, EDF+ and BDF recordings, the files many Holter systems export, read with pyedflib.

A recording is given by its file (``PATIENT.edf``); its annotations are a WFDB annotation file beside it
(``data.formats``), or where there is none, the beat labels among the EDF+ file's own annotations
(``read_edf_annotations``). Only the channels asked for are read, a piece at a time: a day-long recording of many
channels does not fit in memory as float64.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyedflib

from ecgadapt.data.reading import READ_CHUNK_VALUES, channel_names, one_label_a_beat
from ecgadapt.data.formats import Channels, FileFormat, register_file_format
from ecgadapt.data.record import AAMI_MAP, Annotations
from ecgadapt.errors import RecordError


@contextmanager
def _open(path: Path) -> Iterator[pyedflib.EdfReader]:
    if not path.is_file():
        raise RecordError(path, "file missing")
    with path.open("rb") as f:
        reserved = f.read(236)[192:]  # the header's "reserved" field: EDF+C / EDF+D for EDF+ (BDF+C / BDF+D)
    if reserved[:5] in (b"EDF+D", b"BDF+D"):
        raise RecordError(path, "a discontinuous EDF+ file (EDF+D): its data records are not contiguous in time, so "
                                "a beat's time cannot be told from its sample number")
    _check_record_count(path)
    with _c_stdout_captured() as said:  # edflib prints why a file is broken (its size) to the C library's stdout
        try:
            reader = pyedflib.EdfReader(str(path))
        except OSError as err:
            error = err
        else:
            error = None
    if error is not None:
        detail = "; ".join(filter(None, [str(error).removeprefix(f"{path}: "), said.read().strip()]))
        raise RecordError(path, f"unreadable EDF/BDF ({detail})") from error
    try:
        yield reader
    finally:
        reader.close()


def _check_record_count(path: Path) -> None:
    """RecordError when the file holds whole data records beyond those its header counts: edflib reads only the
    counted ones, so the rest of the recording would be left out without a word. (A file shorter than its header says
    is edflib's own error.) A count of -1, "not known yet", is left to edflib."""
    with path.open("rb") as f:
        head = f.read(256)
        try:
            header_bytes, records, signals = int(head[184:192]), int(head[236:244]), int(head[252:256])
        except ValueError:
            return  # edflib says what is wrong with the header
        f.seek(256 + 216 * signals)
        try:
            per_record = sum(int(f.read(8)) for _ in range(signals))
        except ValueError:
            return
    sample_bytes = 3 if head[:1] == b"\xff" else 2  # BDF: 24-bit samples
    record_bytes = per_record * sample_bytes
    if records < 0 or record_bytes <= 0:
        return
    extra = (path.stat().st_size - header_bytes) // record_bytes - records
    if extra > 0:
        raise RecordError(path, f"the header counts {records} data records, the file holds {records + extra}: the "
                                f"last {extra} would not be read (a header written before the recording ended?)")


@contextmanager
def _c_stdout_captured() -> Iterator[io.StringIO]:
    """What C code writes to file descriptor 1 meanwhile, instead of the user's terminal."""
    said = io.StringIO()
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield said
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            said.write(sink.read().decode(errors="replace"))
            said.seek(0)


def _channel_names(f: pyedflib.EdfReader) -> list[str]:
    return channel_names([label.strip() for label in f.getSignalLabels()], range(f.signals_in_file))


def edf_channels(path: str | Path) -> Channels:
    """The signal channels' names (``ch<number>`` where a label is blank) and sampling rates, from the header; an
    EDF+ annotation channel is not a signal and is not listed."""
    path = Path(path)
    with _open(path) as f:
        return Channels(_channel_names(f), [float(rate) for rate in f.getSampleFrequencies()],
                        start_time=f.getStartdatetime().time())


def read_edf_signal(path: str | Path, channels: Sequence[int] | None = None) -> tuple[np.ndarray, float, list[str]]:
    """float32 [channels, samples] in physical units, the sampling rate and the channels' names. The channels read
    must share one sampling rate (EDF lets each have its own): RecordError naming them otherwise."""
    path = Path(path)
    with _open(path) as f:
        names = _channel_names(f)
        rates, lengths = f.getSampleFrequencies(), f.getNSamples()
        chosen = list(channels) if channels is not None else list(range(f.signals_in_file))
        if not chosen:
            raise RecordError(path, "no signal channel")
        if len({float(rates[c]) for c in chosen}) > 1:
            raise RecordError(path, "the channels read have different sampling rates (" + ", ".join(
                f"{names[c]} {rates[c]:g} Hz" for c in chosen) + "): read one lead, or resample the file")
        n = int(lengths[chosen[0]])
        signal = np.empty((len(chosen), n), dtype=np.float32)
        for row, channel in enumerate(chosen):
            for start in range(0, n, READ_CHUNK_VALUES):
                count = min(READ_CHUNK_VALUES, n - start)
                signal[row, start:start + count] = f.readSignal(channel, start, count)
        return signal, float(rates[chosen[0]]), [names[c] for c in chosen]


def read_edf_annotations(path: str | Path, fs: float) -> Annotations | None:
    """The beat labels and rhythm changes among an EDF+ file's annotations, at sample positions of a signal sampled
    at ``fs``: an annotation whose text is a WFDB beat code (``N``, ``V``, ``A``, ... as in a WFDB annotation file,
    AAMI_MAP's) is that beat at its onset; one whose text starts with ``(`` is a rhythm change (``(AFIB``). Other
    texts (events: "recording start", a button press) are left out. None where the file holds neither (a plain EDF
    file has no annotations at all)."""
    path = Path(path)
    with _open(path) as f:
        onsets, _, texts = f.readAnnotations()
    texts = [str(t).strip() for t in texts]
    keep = [i for i, t in enumerate(texts) if t in AAMI_MAP or t.startswith("(")]
    if not any(texts[i] in AAMI_MAP for i in keep):
        return None
    sample = np.round(np.asarray(onsets, dtype=np.float64)[keep] * fs).astype(np.int64)
    order = np.argsort(sample, kind="stable")
    kept = [texts[keep[i]] for i in order]
    if (sample < 0).any():
        raise RecordError(path, "an EDF+ annotation before the start of the recording")
    return one_label_a_beat(Annotations(sample[order], np.array([t if t in AAMI_MAP else "+" for t in kept]),
                                        ["" if t in AAMI_MAP else t for t in kept]), path)


register_file_format(FileFormat("EDF/BDF", (".edf", ".bdf"), edf_channels, read_edf_signal,
                                read_annotations=read_edf_annotations))
