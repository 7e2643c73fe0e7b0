"""Recordings that are one file (EDF/BDF, ISHNE Holter), beside WFDB records: a registry by file suffix.

A Holter system exports a recording as one file; its beat labels, if any, are an annotation file beside it under the
same name (``PATIENT.atr``, a WFDB annotation file, as a cardiologist's labels of the first minutes would be written; a
format may name its own, as ISHNE's ``PATIENT.ann``). A new format is one module with a reader and a
``register_file_format`` call, imported by the package (``ecgadapt.data``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecgadapt.data.record import Annotations
from ecgadapt.errors import ConfigError


@dataclass(frozen=True)
class Channels:
    """What a file's header says of its signal channels: names (``ch<number>`` where it names none), sampling rates,
    what a user should know before trusting them (the header's own lead-quality codes, a size it got wrong), and the
    time of day the recording started, if it says (a Holter report gives times as clock times)."""

    names: list[str]
    rates: list[float]
    notes: list[str] = field(default_factory=list)
    start_time: datetime.time | None = None


@dataclass(frozen=True)
class FileFormat:
    name: str
    suffixes: tuple[str, ...]
    #: the header's channels, read without the signal
    channels: Callable[[Path], Channels]
    #: ``read(path, channels)``: float32 [channels, samples] in mV (or the file's physical unit), the sampling rate, the
    #: channels' names; only the channels asked for (``None``: all)
    read: Callable[[Path, Sequence[int] | None], tuple[np.ndarray, float, list[str]]]
    #: extensions of the format's own annotation files, tried when the annotation file asked for is absent
    annotation_extensions: tuple[str, ...] = ()
    #: ``write_annotations(path, recording, sample, aami_classes)``: a model's classes in the format's own annotation
    #: file (beside the WFDB one), for the software that reads the format; ``None``: none
    write_annotations: Callable[[Path, Path, np.ndarray, Sequence[str]], Path] | None = None
    #: ``read_annotations(path, fs)``: the beat labels the file holds itself (EDF+), used where no annotation file is
    #: beside it; ``None`` from it: the file holds none
    read_annotations: Callable[[Path, float], Annotations | None] | None = None


_FORMATS: dict[str, FileFormat] = {}


def register_file_format(fmt: FileFormat) -> FileFormat:
    for suffix in fmt.suffixes:
        if suffix in _FORMATS:
            raise ConfigError(f"file suffix {suffix} registered twice ({_FORMATS[suffix].name}, {fmt.name})")
        _FORMATS[suffix] = fmt
    return fmt


def file_format(path: str | Path) -> FileFormat | None:
    """The format of a one-file recording, by its suffix (any case); ``None`` for a WFDB record."""
    return _FORMATS.get(Path(path).suffix.lower())


def list_file_formats() -> list[str]:
    return sorted({f"{fmt.name} ({', '.join(fmt.suffixes)})" for fmt in _FORMATS.values()})


def recording_name(path: str | Path) -> str:
    """A recording's name: the WFDB record's, or the one-file recording's without its suffix."""
    path = Path(path)
    return path.stem if file_format(path) else path.name


def annotation_file(path: str | Path, extension: str) -> tuple[Path, str]:
    """The annotation file of a recording and its extension: ``NAME.extension``, or where that is absent and the
    recording's format has annotation files of its own, the first of those present."""
    path = Path(path)
    fmt = file_format(path)
    base = path.with_suffix("") if fmt else path
    wanted = base.with_name(f"{base.name}.{extension}")
    if fmt and not wanted.is_file():
        for other in fmt.annotation_extensions:
            candidate = base.with_name(f"{base.name}.{other}")
            if candidate.is_file():
                return candidate, other
    return wanted, extension
