"""The one record model every dataset adapter produces."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# AAMI EC57 beat classes and the MIT-BIH symbols that map to them.
AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
#: the standard 12 leads, as the 12-lead databases name them (lead look-up ignores case)
TWELVE_LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
AAMI_MAP: dict[str, str] = {
    "N": "N", "L": "N", "R": "N", "e": "N", "j": "N", "B": "N",  # B: bundle branch block beat, unspecified
    "A": "S", "a": "S", "J": "S", "S": "S",
    "V": "V", "E": "V",
    "F": "F",
    "/": "Q", "f": "Q", "Q": "Q",
}


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sort key that orders the numbers in a record's name or path by value: ``data_35_4`` before ``data_35_10``,
    ``patient2`` before ``patient10``. The pieces alternate text and number, so two keys compare text with text and
    number with number."""
    return tuple(int(piece) if k % 2 else piece for k, piece in enumerate(re.split(r"(\d+)", name)))


@dataclass(frozen=True)
class RecordRef:
    """Where a record lives and who it belongs to; cheap to list, loaded on demand."""

    database: str
    name: str
    path: Path  # record path without extension (as wfdb expects)
    subject: str
    labels: tuple[str, ...] = ()  # record-level labels known from an index file (e.g. REFERENCE.csv)
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class RhythmInterval:
    start: int  # sample, inclusive
    end: int  # sample, exclusive
    label: str  # e.g. "(AFIB"


@dataclass
class Annotations:
    """Beat and event annotations of a record, as read from a WFDB annotation file."""

    sample: np.ndarray  # int64 sample positions
    symbol: np.ndarray  # str symbols (MIT-BIH conventions)
    aux: list[str]
    notes: list[str] = field(default_factory=list)  # what was done to read them (a boundary beat dropped)

    def beat_mask(self) -> np.ndarray:
        return np.array([s in AAMI_MAP for s in self.symbol], dtype=bool)

    def aami(self) -> np.ndarray:
        """AAMI class of every annotation ('' for non-beat annotations)."""
        return np.array([AAMI_MAP.get(s, "") for s in self.symbol], dtype="<U1")


@dataclass
class Record:
    """One ECG recording: signal [leads, samples] in mV, and everything known about it."""

    database: str
    name: str
    subject: str
    signal: np.ndarray  # float32 [leads, samples]
    fs: float
    leads: list[str]
    path: Path
    labels: tuple[str, ...] = ()  # record-level diagnostic / rhythm labels
    annotations: Annotations | None = None
    rhythms: list[RhythmInterval] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def lead_index(self, lead: str) -> int:
        """Index of a lead by name (case-insensitive), or by position as ``#0``, ``#1``... (for databases whose
        channel names vary, as in Holter sets); raises RecordError naming the record if absent."""
        from ecgadapt.errors import RecordError

        if lead.startswith("#") and lead[1:].isdigit():
            if int(lead[1:]) >= len(self.leads):
                raise RecordError(self.path, f"lead {lead!r} missing (record has {len(self.leads)} channels)")
            return int(lead[1:])
        lowered = [name.lower() for name in self.leads]
        if lead.lower() not in lowered:
            raise RecordError(self.path, f"lead {lead!r} missing (record has {', '.join(self.leads)})")
        return lowered.index(lead.lower())

    def select_leads(self, leads: list[str] | None, flat: Sequence[str] = ()) -> np.ndarray:
        """The signal of ``leads`` in that order (all leads if None); a lead named in ``flat`` is an all-zero channel
        (one the record lacks, for a model trained to do without it). The record's own array when that is what is
        asked for: do not write into it."""
        if not leads:
            return self.signal
        if not set(leads) & set(flat) and [self.lead_index(lead) for lead in leads] == list(range(len(self.leads))):
            return self.signal  # all of them, in order (the engine reads only the model's leads): no copy of a day
        return np.stack([np.zeros(self.n_samples, dtype=self.signal.dtype) if lead in flat
                         else self.signal[self.lead_index(lead)] for lead in leads])
