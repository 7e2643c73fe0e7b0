"""Turn a PhysioNet folder into model-ready arrays, once: records -> filtered beats or windows -> cache.

Two tasks:

- ``beats``: a window around every R peak (annotated peaks for annotated data, neurokit2's detector
  otherwise) with RR features; labels are AAMI classes N/S/V/F/Q.
- ``windows``: fixed windows (10 s at 100 Hz for the 12-lead tasks, as in the transfer-learning study);
  longer records cropped, shorter ones dropped and counted; labels from the record (diagnoses) or from the
  rhythm annotations covering most of the window.

Bad records are skipped, listed in the report with the file and the problem, and the rest finishes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ecgadapt._atomic import output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.cache import ArrayCache, default_cache_root
from ecgadapt.data import AAMI_CLASSES, AAMI_MAP, Record, RecordRef, get_adapter
from ecgadapt.errors import ConfigError, RecordError
from ecgadapt.signal import (detect_r_peaks, fixed_windows, nearest_index, peak_agreement, preprocess, rr_features,
                             segment_beats, zscore)
from ecgadapt.signal.filters import resample_ratio
from ecgadapt.signal.peaks import R_PEAK_METHODS
from ecgadapt.signal.quality import MATCH_TOLERANCE_S

#: bump when a change to this module changes the arrays it produces (invalidates old cache entries)
PREP_VERSION = 4  # 2: the rr_irregularity column; 3: detected R peaks of complexes that point down too; 4: positions
# moved by the ratio the signal was really resampled by (resample_ratio; differs only at rates it rounds)
RHYTHM_CLASSES = ("N", "AF", "O")
_RHYTHM_MAP = {"(N": "N", "(AFIB": "AF", "(AFL": "AF"}


@dataclass(frozen=True)
class PrepSettings:
    task: str = "windows"  # "beats" | "windows"
    target_fs: float | None = None  # None: keep the database's rate
    leads: tuple[str, ...] | None = None  # None: all leads of the record
    # "error": a record without one of ``leads`` cannot be prepared; "zero": a missing lead after the first is a
    # flat (all-zero) channel, for a model trained with lead dropout to do without it (see TrainConfig.lead_dropout)
    missing_leads: str = "error"
    band: tuple[float, float] | None = (0.5, 40.0)
    baseline: str = "bandpass"  # "bandpass" | "median" (+ median filters) | "none"
    normalize: str = "window"  # "record" | "window" | "none"  (z-score per lead)
    window_s: float = 10.0
    window_mode: str = "crop"  # "crop" (first window) | "all" (consecutive windows)
    window_stride_s: float | None = None
    beat_before_s: float = 0.25
    beat_after_s: float = 0.45
    peaks: str = "annotated"  # "annotated" | "detected" | "annotated+detected" (detected outside the annotated span)
    label_source: str = "record"  # "record" | "rhythm"
    detector: str = "neurokit"  # the R-peak detector of detected peaks (``signal.peaks.R_PEAK_METHODS``)

    def __post_init__(self) -> None:
        checks = {"task": ("beats", "windows"), "baseline": ("bandpass", "median", "none"),
                  "normalize": ("record", "window", "none"), "window_mode": ("crop", "all"),
                  "peaks": ("annotated", "detected", "annotated+detected"), "label_source": ("record", "rhythm"),
                  "missing_leads": ("error", "zero"), "detector": R_PEAK_METHODS}
        for key, allowed in checks.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"prepare setting {key}={getattr(self, key)!r}; allowed: {', '.join(allowed)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PrepSettings:
        """Inverse of ``to_dict`` after a JSON round trip (lists back to tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def default_settings(dataset: str, task: str | None = None) -> PrepSettings:
    """The settings each database is prepared with unless told otherwise."""
    adapter = get_adapter(dataset)
    task = task or adapter.task
    if task == "peaks":
        raise ConfigError(f"{dataset} is an R-peak reference set: use `ecgadapt data peaks`, there is nothing to prepare")
    if task == "beats":
        return PrepSettings(task="beats", leads=adapter.beat_leads, normalize="record")
    rhythm = adapter.window_labels == "rhythm"
    return PrepSettings(task="windows", target_fs=100.0, leads=adapter.window_leads, normalize="window",
                        window_mode="all" if rhythm else "crop", label_source="rhythm" if rhythm else "record")


def label_names_for(dataset: str, settings: PrepSettings) -> tuple[str, ...]:
    if settings.task == "beats":
        return AAMI_CLASSES
    if settings.label_source == "rhythm":
        return RHYTHM_CLASSES
    return get_adapter(dataset).label_names


# ----------------------------------------------------------------------------------------------
# One record -> arrays


def process_record(dataset: str, ref: RecordRef, settings: PrepSettings) -> dict[str, np.ndarray]:
    """Load, filter and cut one record. Returns the arrays of its part (and ``__meta__``)."""
    return record_arrays(get_adapter(dataset).load(ref), settings, dataset)


def record_arrays(record: Record, settings: PrepSettings, dataset: str | None = None) -> dict[str, np.ndarray]:
    """Filter and cut a loaded record into beats or windows (the arrays of one cache part, with ``__meta__``)."""
    zeroed = missing_leads(record, settings)
    signal = record.select_leads(list(settings.leads) if settings.leads else None, flat=zeroed)
    x, fs = preprocess(signal, record.fs, target_fs=settings.target_fs, band=settings.band, baseline=settings.baseline)
    # positions move by the ratio the signal was resampled by, which may be rounded (resample_ratio), not by fs / fs
    scale = float(resample_ratio(record.fs, settings.target_fs)) if settings.target_fs is not None else 1.0
    meta = {"name": record.name, "subject": record.subject, "fs": record.fs, "n_samples": record.n_samples,
            "leads": list(settings.leads or record.leads), "labels": list(record.labels), "dropped": "",
            "zero_leads": zeroed}
    if settings.normalize == "record":
        x = zscore(x, in_place=not np.may_share_memory(x, signal))  # the filters' own output, not the record's signal
    if settings.task == "beats":
        arrays = _beats(record, x, fs, scale, settings, meta)
    else:
        arrays = _windows(dataset or record.database, record, x, fs, scale, settings, meta)
    arrays["__meta__"] = np.array(json.dumps(meta))
    return arrays


def missing_leads(record: Record, settings: PrepSettings) -> list[str]:
    """The leads of ``settings`` the record lacks and that ``settings.missing_leads`` lets be flat channels. The first
    lead can never be missing: beats are cut and R peaks detected on it. Any other missing lead raises the record's
    RecordError when the settings say "error"."""
    if not settings.leads:
        return []
    absent = []
    for i, lead in enumerate(settings.leads):
        try:
            record.lead_index(lead)  # its RecordError names the record and the leads it has
        except RecordError:
            # a channel by position ("#1") is never filled in: the record's channels are not what the model expects
            if settings.missing_leads == "error" or i == 0 or (lead.startswith("#") and lead[1:].isdigit()):
                raise
            absent.append(lead)
    return absent


def _beats(record: Record, x: np.ndarray, fs: float, scale: float, settings: PrepSettings, meta: dict) -> dict[str, np.ndarray]:
    ann = record.annotations
    if settings.peaks in ("annotated", "annotated+detected"):
        if ann is None:
            raise RecordError(record.path, "no beat annotations: prepare with peaks='detected'")
        mask = ann.beat_mask()
        peaks_orig = ann.sample[mask]
        labels = np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in ann.symbol[mask]], dtype=np.int8)
        if settings.peaks == "annotated+detected":  # a record annotated only in part: the rest by the detector
            detected = np.round(detect_r_peaks(x[0], fs, method=settings.detector) / scale).astype(np.int64)
            if len(peaks_orig):  # the span the annotator covered is the annotator's; beyond it, the detector's
                tolerance = MATCH_TOLERANCE_S * record.fs
                detected = detected[(detected < peaks_orig[0] - tolerance) | (detected > peaks_orig[-1] + tolerance)]
            before = int(np.searchsorted(detected, peaks_orig[0] if len(peaks_orig) else 0))
            peaks_orig = np.concatenate([detected[:before], peaks_orig, detected[before:]])
            labels = np.concatenate([np.full(before, -1, dtype=np.int8), labels,
                                     np.full(len(detected) - before, -1, dtype=np.int8)])
    else:
        peaks_orig = np.round(detect_r_peaks(x[0], fs, method=settings.detector) / scale).astype(np.int64)
        labels = np.full(len(peaks_orig), -1, dtype=np.int8)
        if ann is not None:  # label detected beats by the annotated beat within 150 ms, for evaluation
            mask = ann.beat_mask()
            ref_peaks = ann.sample[mask]
            ref_cls = np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in ann.symbol[mask]], dtype=np.int8)
            if len(ref_peaks):
                nearest = nearest_index(ref_peaks, peaks_orig)
                close = np.abs(ref_peaks[nearest] - peaks_orig) <= MATCH_TOLERANCE_S * record.fs
                labels[close] = ref_cls[nearest[close]]
    if len(peaks_orig) < 2:
        raise RecordError(record.path, f"only {len(peaks_orig)} beat(s): RR features need at least 2")
    rr = rr_features(peaks_orig, record.fs)
    peaks = np.round(peaks_orig * scale).astype(np.int64)
    beats, keep = segment_beats(x, peaks, fs, settings.beat_before_s, settings.beat_after_s)
    if not keep.any():  # every beat too close to an end for its window: nothing to classify
        raise RecordError(record.path, f"none of its {len(peaks)} beat(s) lies {settings.beat_before_s:g} s after the "
                                       f"start and {settings.beat_after_s:g} s before the end ({record.duration_s:.1f} s "
                                       "record): too short to classify a beat")
    meta["edge_beats_dropped"] = int((~keep).sum())
    return {"X": beats, "y": labels[keep], "rr": rr[keep], "position": peaks_orig[keep]}


def _windows(dataset: str, record: Record, x: np.ndarray, fs: float, scale: float, settings: PrepSettings,
             meta: dict) -> dict[str, np.ndarray]:
    windows, starts = fixed_windows(x, fs, settings.window_s, settings.window_mode, settings.window_stride_s)
    if settings.normalize == "window" and len(windows):
        windows = zscore(windows)
    positions = np.round(starts / scale).astype(np.int64)
    label_names = label_names_for(dataset, settings)
    if len(windows) == 0:
        meta["dropped"] = f"shorter than {settings.window_s:g} s ({record.duration_s:.1f} s)"
    if settings.label_source == "rhythm":
        width = int(round(settings.window_s * record.fs))
        y = np.array([_majority_rhythm(record, p, p + width) for p in positions], dtype=np.int64)
    elif get_adapter(dataset).multilabel:  # rhythm labels need no database: any WFDB record's rhythm notes
        y = np.zeros((len(windows), len(label_names)), dtype=np.float32)
        for lab in record.labels:
            y[:, label_names.index(lab)] = 1.0
    else:
        known = [lab for lab in record.labels if lab in label_names]
        y = np.full(len(windows), label_names.index(known[0]) if known else -1, dtype=np.int64)
    return {"X": windows, "y": y, "position": positions}


def _majority_rhythm(record: Record, start: int, end: int) -> int:
    cover = {}
    for iv in record.rhythms:
        overlap = min(end, iv.end) - max(start, iv.start)
        if overlap > 0:
            label = _RHYTHM_MAP.get(iv.label, "O")
            cover[label] = cover.get(label, 0) + overlap
    return RHYTHM_CLASSES.index(max(cover, key=cover.get)) if cover else -1


# ----------------------------------------------------------------------------------------------
# Whole dataset


@dataclass
class PrepareReport:
    dataset: str
    root: str
    cache_dir: str
    n_records: int
    prepared: int
    reused: int
    failures: list[dict[str, str]] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)
    n_items: int = 0


def _worker(args: tuple[str, RecordRef, PrepSettings, str, str]) -> tuple[str, str | None]:
    dataset, ref, settings, cache_dir, part = args
    try:
        arrays = process_record(dataset, ref, settings)
    except RecordError as err:
        return ref.name, str(err)
    ArrayCache.at(cache_dir).write_part(part, **arrays)
    return ref.name, None


def prepare_dataset(dataset: str, root: str | Path, settings: PrepSettings | None = None, *,
                    cache_root: str | Path | None = None, workers: int = 1, records: Sequence[str] | None = None,
                    progress: bool = True, on_record: Callable[[str], None] | None = None) -> tuple[PreparedDataset, PrepareReport]:
    """Prepare (or reuse) the cache of ``dataset`` at ``root``. Interrupted runs resume where they stopped.

    ``on_record(name)`` is called after each record (progress hooks; raising from it interrupts the run).
    """
    adapter = get_adapter(dataset)
    settings = settings or default_settings(dataset)
    root = Path(root)
    refs = adapter.records(root)
    if records is not None:
        wanted = set(records)
        refs = [r for r in refs if r.name in wanted]
    if not refs:
        raise ConfigError(f"{root}: no {dataset} records found")
    material = {"dataset": dataset, "root": str(root.resolve()), "records": [r.name for r in refs],
                "settings": settings.to_dict(), "version": PREP_VERSION,
                **({"adapter_version": adapter.version} if adapter.version > 1 else {})}  # old caches stay valid
    cache = ArrayCache(output_folder(cache_root or default_cache_root()), dataset, material)
    report = PrepareReport(dataset, str(root), str(cache.dir), len(refs), 0, 0)
    if cache.is_complete():
        prepared = PreparedDataset(cache)
        report.reused = len(refs)
        report.failures = prepared.manifest["failures"]
        report.dropped = prepared.manifest["dropped"]
        report.n_items = len(prepared)
        return prepared, report

    todo = [r for r in refs if not cache.has_part(r.name)]
    report.reused = len(refs) - len(todo)
    failures: dict[str, str] = {}
    jobs = [(dataset, r, settings, str(cache.dir), r.name) for r in todo]
    with progress_bar(progress, f"prepare {dataset}", len(jobs)) as advance:
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for name, error in pool.map(_worker, jobs, chunksize=max(1, len(jobs) // (workers * 16))):
                    _after(name, error, failures, report, advance, on_record)
        else:
            for job in jobs:
                name, error = _worker(job)
                _after(name, error, failures, report, advance, on_record)

    good = [r for r in refs if cache.has_part(r.name)]
    if not good:  # nothing to cache: say why each failed (a batch job that did nothing must not look like one)
        shown = "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:5])
        raise RecordError(root, f"none of its {len(refs)} record(s) could be prepared ({shown}"
                                f"{' ...' if len(failures) > 5 else ''})")
    records_meta, dropped = [], []
    for r in good:
        meta = json.loads(str(cache.read_part(r.name)["__meta__"]))
        records_meta.append(meta)
        if meta["dropped"]:
            dropped.append({"record": r.name, "reason": meta["dropped"]})
    subjects = sorted({m["subject"] for m in records_meta})
    manifest = {"dataset": dataset, "root": str(root), "settings": settings.to_dict(),
                "label_names": list(label_names_for(dataset, settings)),
                "fs": settings.target_fs or (records_meta[0]["fs"] if records_meta else None),
                "records": records_meta, "subjects": subjects,
                "failures": [{"record": k, "error": v} for k, v in failures.items()], "dropped": dropped}
    _finalize(cache, [r.name for r in good], manifest)
    prepared = PreparedDataset(cache)
    report.failures, report.dropped, report.n_items = manifest["failures"], dropped, len(prepared)
    return prepared, report


def _after(name: str, error: str | None, failures: dict[str, str], report: PrepareReport, advance: Callable[[], None],
           on_record: Callable[[str], None] | None) -> None:
    if error:
        failures[name] = error
    else:
        report.prepared += 1
    advance()
    if on_record:
        on_record(name)


def _finalize(cache: ArrayCache, names: list[str], manifest: dict[str, Any]) -> None:
    """Concatenate the parts, add each item's record and subject index, then write the manifest."""
    rows = cache.concat_parts(names)
    subj_index = {s: i for i, s in enumerate(manifest["subjects"])}
    start = 0
    for meta, n in zip(manifest["records"], rows):
        meta["rows"] = [start, start + n]
        start += n
    cache.write_array("record", np.repeat(np.arange(len(rows), dtype=np.int32), rows))
    cache.write_array("subject", np.repeat(np.array([subj_index[m["subject"]] for m in manifest["records"]],
                                                    dtype=np.int32), rows))
    cache.write_manifest(manifest)


class PreparedDataset:
    """Read-only view of a complete cache entry: arrays memory-mapped, manifest parsed."""

    def __init__(self, cache: ArrayCache):
        if not cache.is_complete():
            raise ConfigError(f"{cache.dir}: cache entry is incomplete (run prepare again to resume)")
        self.cache = cache
        self.manifest = cache.manifest()
        self.dataset: str = self.manifest["dataset"]
        self.label_names: tuple[str, ...] = tuple(self.manifest["label_names"])
        self.fs: float = float(self.manifest["fs"])
        self.records: list[dict[str, Any]] = self.manifest["records"]
        self.subjects: list[str] = self.manifest["subjects"]
        self.settings = PrepSettings.from_dict(self.manifest["settings"])

    @classmethod
    def open(cls, cache_dir: str | Path) -> PreparedDataset:
        return cls(ArrayCache.at(cache_dir))

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        return self.cache.load_arrays(mmap=True)

    def __getattr__(self, name: str) -> np.ndarray:
        if name in ("X", "y", "rr", "position", "record", "subject"):
            arrays = self.arrays
            if name in arrays:
                return arrays[name]
        raise AttributeError(name)

    def __len__(self) -> int:
        return int(self.arrays["X"].shape[0]) if "X" in self.arrays else 0

    @cached_property
    def record_names(self) -> list[str]:
        return [m["name"] for m in self.records]

    @property
    def failed_records(self) -> list[str]:
        """The records that could not be prepared (skipped); the manifest keeps why."""
        return [f["record"] for f in self.manifest["failures"]]

    def time_s(self) -> np.ndarray:
        """Time of each item in its record (R peak or window start), seconds."""
        fs = np.array([m["fs"] for m in self.records], dtype=np.float64)
        return np.asarray(self.position, dtype=np.float64) / fs[np.asarray(self.record)]

    def class_counts(self, indices: np.ndarray | None = None) -> dict[str, int]:
        y = np.asarray(self.y if indices is None else self.y[indices])
        if y.ndim == 2:
            return {name: int(y[:, i].sum()) for i, name in enumerate(self.label_names)}
        counts = {name: int((y == i).sum()) for i, name in enumerate(self.label_names)}
        if (y < 0).any():
            counts["unlabelled"] = int((y < 0).sum())
        return counts


def evaluate_detector(dataset: str, root: str | Path, *, lead: int = 0, tolerance_s: float = 0.150,
                      records: Sequence[str] | None = None, progress: bool = True,
                      method: str = "neurokit") -> dict[str, Any]:
    """Agreement of an R-peak detector (``signal.peaks.detect_r_peaks``'s ``method``) on lead number ``lead`` with the
    reference peaks of an annotated database."""
    adapter = get_adapter(dataset)
    refs = adapter.records(root)
    if records is not None:
        refs = [r for r in refs if r.name in set(records)]
    per_record, failures = [], []
    total = None
    with progress_bar(progress, f"R peaks {dataset}", len(refs)) as advance:
        for ref in refs:
            try:
                rec = adapter.load(ref)
                if lead >= len(rec.leads):
                    raise RecordError(rec.path, f"no lead number {lead} (it has {len(rec.leads)}: "
                                                f"{', '.join(rec.leads)})")
            except RecordError as err:
                failures.append({"record": ref.name, "error": str(err)})
                advance()
                continue
            ann = rec.annotations
            reference = ann.sample[ann.beat_mask()] if dataset != "cpsc2019" else ann.sample
            detected = detect_r_peaks(rec.signal[lead], rec.fs, method=method)
            agreement = peak_agreement(reference, detected, rec.fs, tolerance_s)
            total = agreement if total is None else total + agreement
            per_record.append({"record": ref.name, "reference": len(reference), "detected": len(detected),
                               "tp": agreement.tp, "fp": agreement.fp, "fn": agreement.fn,
                               "sensitivity": agreement.sensitivity, "ppv": agreement.ppv})
            advance()
    return {"dataset": dataset, "method": method, "lead": lead, "tolerance_s": tolerance_s, "records": per_record,
            "failures": failures,
            "sensitivity": total.sensitivity if total else float("nan"), "ppv": total.ppv if total else float("nan"),
            "tp": total.tp if total else 0, "fp": total.fp if total else 0, "fn": total.fn if total else 0}


__all__ = ["PrepSettings", "PrepareReport", "PreparedDataset", "default_settings", "evaluate_detector",
           "label_names_for", "prepare_dataset", "process_record", "record_arrays"]
