"""Evaluation protocols as data: which record, and which part of it in time, belongs to which split.

A protocol is a mapping ``split -> [Segment]``. Two kinds:

- patient-wise (``patient_wise=True``): no subject may appear in two splits;
- patient-specific (``patient_wise=False``): a patient may appear in several splits, but never the same
  stretch of time (e.g. first 5 min to personalize, the remaining 25 min to test).

:meth:`Protocol.check` enforces this; :meth:`Protocol.indices` selects the items of a prepared dataset.
Builders are registered by name; a new protocol is one function plus ``@register_protocol``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt.data.mitdb import PACED_RECORDS
from ecgadapt.data.record import RecordRef
from ecgadapt.errors import ConfigError, EcgAdaptError

# de Chazal, O'Dwyer & Reilly (2004), IEEE TBME 51(7): the inter-patient split of MIT-BIH
DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201", "203", "205",
       "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213", "214", "219",
       "221", "222", "228", "231", "232", "233", "234")
# Kiranyaz, Ince & Gabbouj (2016) / AAMI EC57 patient-specific protocol
PS_POOL = tuple(r for r in ("100", "101", "103", "105", "106", "108", "109", "111", "112", "113", "114", "115",
                            "116", "117", "118", "119", "121", "122", "123", "124") if r not in PACED_RECORDS)
PS_TEST = ("200", "201", "202", "203", "205", "207", "208", "209", "210", "212", "213", "214", "215", "219", "220",
           "221", "222", "223", "228", "230", "231", "232", "233", "234")
_SAME_SUBJECT_201_202 = ("records 201 (DS1) and 202 (DS2) come from the same subject; the published de Chazal split "
                         "keeps both, and so does this protocol for comparability with the literature "
                         "(use mitdb-inter-patient-strict to drop 202)")


class LeakError(EcgAdaptError):
    """A subject (patient-wise protocol) or a stretch of time (patient-specific protocol) is in two splits."""


@dataclass(frozen=True)
class Segment:
    """A stretch of one record: [start, end) in seconds (``unit='s'``) or as fractions of its length."""

    record: str
    start: float = 0.0
    end: float | None = None  # None: to the end of the record
    unit: str = "s"  # "s" | "frac"

    def bounds_s(self, duration_s: float) -> tuple[float, float]:
        if self.unit == "frac":
            return self.start * duration_s, (self.end if self.end is not None else 1.0) * duration_s
        return self.start, self.end if self.end is not None else duration_s


@dataclass
class Protocol:
    name: str
    dataset: str
    description: str
    splits: dict[str, list[Segment]]
    subject_of: dict[str, str]  # record -> subject
    patient_wise: bool = True
    #: subjects documented to appear in two splits, with the reason (checked, never silent)
    allowed_overlaps: dict[str, str] = field(default_factory=dict)
    missing_records: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def records(self, split: str) -> list[str]:
        return list(dict.fromkeys(s.record for s in self.splits[split]))

    def subjects(self, split: str) -> set[str]:
        return {self.subject_of[s.record] for s in self.splits[split]}

    def check(self, durations_s: dict[str, float] | None = None) -> None:
        """Raise LeakError if a subject crosses splits (patient-wise) or two splits share time (patient-specific)."""
        names = list(self.splits)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                shared = self.subjects(a) & self.subjects(b)
                if self.patient_wise:
                    leaked = shared - set(self.allowed_overlaps)
                    if leaked:
                        raise LeakError(f"{self.name}: subject(s) {sorted(leaked)} in both {a!r} and {b!r}")
                for seg_a in self.splits[a]:
                    for seg_b in self.splits[b]:
                        if seg_a.record == seg_b.record and _overlap(seg_a, seg_b, (durations_s or {}).get(seg_a.record)):
                            raise LeakError(f"{self.name}: record {seg_a.record} has the same time in {a!r} and {b!r}")

    def indices(self, prepared: Any) -> dict[str, np.ndarray]:
        """Row indices of a :class:`~ecgadapt.prepare.PreparedDataset` for every split.

        Beats belong to a segment when their R peak lies in it; windows when they lie entirely in it.
        """
        rec_index = {name: i for i, name in enumerate(prepared.record_names)}
        times = prepared.time_s()
        beats = prepared.settings.task == "beats"
        out = {}
        for split, segments in self.splits.items():
            mask = np.zeros(len(times), dtype=bool)
            for seg in segments:
                if seg.record not in rec_index:
                    continue
                i = rec_index[seg.record]
                meta = prepared.records[i]
                lo, hi = seg.bounds_s(meta["n_samples"] / meta["fs"])
                r0, r1 = meta["rows"]
                t = times[r0:r1]
                inside = (t < hi) if beats else (t + prepared.settings.window_s <= hi + 1e-9)
                mask[r0:r1] |= (t >= lo) & inside
            out[split] = np.flatnonzero(mask)
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["splits"] = {k: [asdict(s) for s in v] for k, v in self.splits.items()}
        return d

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Protocol:
        d = json.loads(Path(path).read_text())
        d["splits"] = {k: [Segment(**s) for s in v] for k, v in d["splits"].items()}
        return cls(**d)


def _overlap(a: Segment, b: Segment, duration_s: float | None) -> bool:
    if a.unit == b.unit:
        a0, a1, b0, b1 = a.start, a.end if a.end is not None else np.inf, b.start, b.end if b.end is not None else np.inf
    elif duration_s is None:
        return True  # seconds vs fractions without the record's length: cannot prove them apart, so fail safe
    else:
        (a0, a1), (b0, b1) = a.bounds_s(duration_s), b.bounds_s(duration_s)
    return max(a0, b0) < min(a1, b1)


# ------------------------------------------------------------------------------------------------
# Registry

ProtocolBuilder = Callable[..., Protocol]
_PROTOCOLS: dict[str, tuple[str, ProtocolBuilder]] = {}


def register_protocol(name: str, dataset: str | None = None) -> Callable[[ProtocolBuilder], ProtocolBuilder]:
    """Register ``builder(refs, **params) -> Protocol``; ``dataset=None`` means any dataset with subject ids."""

    def deco(fn: ProtocolBuilder) -> ProtocolBuilder:
        if name in _PROTOCOLS:
            raise ConfigError(f"protocol {name!r} registered twice")
        _PROTOCOLS[name] = (dataset or "*", fn)
        return fn

    return deco


def list_protocols() -> dict[str, str]:
    return {name: ds for name, (ds, _) in sorted(_PROTOCOLS.items())}


def build_protocol(name: str, dataset: str, refs: Sequence[RecordRef], **params: Any) -> Protocol:
    if name not in _PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(list_protocols())}")
    wanted, builder = _PROTOCOLS[name]
    if wanted != "*" and wanted != dataset:
        raise ConfigError(f"protocol {name!r} is for {wanted}, not {dataset}")
    protocol = builder(dataset, list(refs), **params)
    protocol.check()
    return protocol


def _from_lists(name: str, dataset: str, refs: Sequence[RecordRef], description: str,
                splits: dict[str, list[Segment]], **kw: Any) -> Protocol:
    """Keep the segments whose record exists under the root, and remember which are missing."""
    available = {r.name: r.subject for r in refs}
    missing = sorted({s.record for segs in splits.values() for s in segs if s.record not in available})
    kept = {k: [s for s in v if s.record in available] for k, v in splits.items()}
    return Protocol(name=name, dataset=dataset, description=description, splits=kept, subject_of=available,
                    missing_records=missing, **kw)


@register_protocol("mitdb-inter-patient", "mitdb")
def mitdb_inter_patient(dataset: str, refs: Sequence[RecordRef]) -> Protocol:
    return _from_lists("mitdb-inter-patient", dataset, refs,
                       "de Chazal et al. 2004 inter-patient split: train DS1, test DS2 (paced records excluded)",
                       {"train": [Segment(r) for r in DS1], "test": [Segment(r) for r in DS2]},
                       allowed_overlaps={"201": _SAME_SUBJECT_201_202})


@register_protocol("mitdb-inter-patient-strict", "mitdb")
def mitdb_inter_patient_strict(dataset: str, refs: Sequence[RecordRef]) -> Protocol:
    return _from_lists("mitdb-inter-patient-strict", dataset, refs,
                       "DS1 / DS2 without record 202 (same subject as DS1 record 201): no subject in both",
                       {"train": [Segment(r) for r in DS1], "test": [Segment(r) for r in DS2 if r != "202"]})


def _personalized(name: str, dataset: str, refs: Sequence[RecordRef], population: Sequence[str],
                  patients: Sequence[str], minutes: float, description: str) -> Protocol:
    seconds = 60.0 * minutes
    return _from_lists(name, dataset, refs, description,
                       {"population": [Segment(r) for r in population],
                        "adapt": [Segment(r, 0.0, seconds) for r in patients],
                        "test": [Segment(r, seconds, None) for r in patients]},
                       patient_wise=False, params={"labelled_minutes": minutes})


@register_protocol("mitdb-patient-specific", "mitdb")
def mitdb_patient_specific(dataset: str, refs: Sequence[RecordRef], labelled_minutes: float = 5.0) -> Protocol:
    return _personalized("mitdb-patient-specific", dataset, refs, PS_POOL, [r for r in PS_TEST if r != "217"],
                         labelled_minutes,
                         "Kiranyaz et al. 2016 / AAMI EC57: training pool = population (records 100-124, paced "
                         f"excluded) + adapt (first {labelled_minutes:g} min of each record 200-234, 217 excluded); "
                         "test = the rest of each record")


@register_protocol("mitdb-ds2-personalized", "mitdb")
def mitdb_ds2_personalized(dataset: str, refs: Sequence[RecordRef], labelled_minutes: float = 5.0) -> Protocol:
    return _personalized("mitdb-ds2-personalized", dataset, refs, DS1, DS2, labelled_minutes,
                         f"DS1 population + first {labelled_minutes:g} min of each DS2 record to personalize; "
                         "test = rest of DS2")


@register_protocol("svdb-personalized", "svdb")
def svdb_personalized(dataset: str, refs: Sequence[RecordRef], labelled_minutes: float = 5.0, folds: int = 4,
                      seed: int = 0) -> Protocol:
    """Each SVDB patient in turn is the test patient: the first ``labelled_minutes`` adapt, the rest is scored. The
    patients are dealt into ``folds`` folds (seeded); the population model of a fold's patients is trained without
    any of them (leave-patients-out), so no patient is in both a population model's training set and its test.
    ``params["fold_of"]`` says which fold each record is in."""
    if folds < 2:
        raise ConfigError(f"svdb-personalized: folds={folds}; at least 2 (each fold's population model is trained on "
                          "the other folds' patients)")
    subjects = sorted({r.subject for r in refs})
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    fold_of_subject = {s: k % folds for k, s in enumerate(order)}
    seconds = 60.0 * labelled_minutes
    names = [r.name for r in refs]
    return _from_lists("svdb-personalized", dataset, refs,
                       f"each SVDB patient: first {labelled_minutes:g} min to personalize, the rest to test; population "
                       f"models on MIT-BIH DS1 + the SVDB patients of the other {folds - 1} of {folds} folds",
                       {"adapt": [Segment(n, 0.0, seconds) for n in names],
                        "test": [Segment(n, seconds, None) for n in names]},
                       patient_wise=False,
                       params={"labelled_minutes": labelled_minutes, "folds": folds, "seed": seed,
                               "fold_of": {r.name: fold_of_subject[r.subject] for r in refs}})


def fold_records(protocol: Protocol, fold: int) -> list[str]:
    """The records of one fold of a protocol dealt into folds (``svdb-personalized``)."""
    return [name for name, k in protocol.params["fold_of"].items() if k == fold]


@register_protocol("subject-ratio")
def subject_ratio(dataset: str, refs: Sequence[RecordRef], ratio: float = 0.1,
                  records: Sequence[str] | None = None) -> Protocol:
    """Per-subject time split (DiffECG): the first ``ratio`` of each record to personalize, the rest to test."""
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"subject-ratio: ratio must be in (0, 1), got {ratio}")
    names = [r.name for r in refs if records is None or r.name in set(records)]
    return _from_lists("subject-ratio", dataset, refs, f"first {ratio:.0%} of each record to adapt, rest to test",
                       {"adapt": [Segment(n, 0.0, ratio, "frac") for n in names],
                        "test": [Segment(n, ratio, 1.0, "frac") for n in names]},
                       patient_wise=False, params={"ratio": ratio})


@register_protocol("patient-split")
def patient_split(dataset: str, refs: Sequence[RecordRef], val: float = 0.1, test: float = 0.2,
                  seed: int = 0) -> Protocol:
    """Random patient-wise train / validation / test split (all records of a subject go to one split)."""
    subjects = sorted({r.subject for r in refs})
    rng = np.random.default_rng(seed)
    order = [subjects[i] for i in rng.permutation(len(subjects))]
    n_test, n_val = int(round(test * len(order))), int(round(val * len(order)))
    assign = {s: "test" for s in order[:n_test]} | {s: "val" for s in order[n_test:n_test + n_val]} | \
             {s: "train" for s in order[n_test + n_val:]}
    splits: dict[str, list[Segment]] = {"train": [], "val": [], "test": []}
    for r in refs:
        splits[assign[r.subject]].append(Segment(r.name))
    return _from_lists("patient-split", dataset, refs, f"patient-wise random split (val {val}, test {test}, seed {seed})",
                       splits, params={"val": val, "test": test, "seed": seed})


@register_protocol("ptbxl-folds", "ptbxl")
def ptbxl_folds(dataset: str, refs: Sequence[RecordRef]) -> Protocol:
    """PTB-XL's recommended split: strat_fold 1-8 train, 9 validation, 10 test (folds respect patients)."""
    fold_split = {**{f: "train" for f in range(1, 9)}, 9: "val", 10: "test"}
    splits: dict[str, list[Segment]] = {"train": [], "val": [], "test": []}
    for r in refs:
        splits[fold_split[int(r.meta["strat_fold"])]].append(Segment(r.name))
    return _from_lists("ptbxl-folds", dataset, refs, "PTB-XL strat_fold 1-8 / 9 / 10", splits)
