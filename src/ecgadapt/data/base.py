"""The dataset-adapter protocol, its registry, and the checked WFDB reader every adapter shares."""

from __future__ import annotations

import collections
import glob
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import wfdb
from wfdb.io._signal import DAT_FMTS, INVALID_SAMPLE_VALUE  # INVALID: the stored value for "no sample"
from wfdb.io.annotation import ann_label_table

from ecgadapt._registry import Registry
from ecgadapt.data.reading import READ_CHUNK_VALUES, channel_names, one_label_a_beat  # noqa: F401 - also here
from ecgadapt.data.record import Annotations, Record, RecordRef, RhythmInterval
from ecgadapt.errors import ConfigError, RecordError


@dataclass(frozen=True)
class PhysioNetSource:
    """Where PhysioNet publishes a database: https://physionet.org/files/<slug>/<version>/."""

    slug: str
    version: str
    license: str


@dataclass
class DatasetInfo:
    name: str
    root: Path
    n_records: int
    n_subjects: int
    duration_s: float
    class_counts: dict[str, int]
    extra_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: what a reader of the counts should know (e.g. one record = one patient where headers carry no patient data)
    notes: list[str] = field(default_factory=list)


class DatasetAdapter(ABC):
    """Reads one database, laid out exactly as PhysioNet ships it, into :class:`Record` objects.

    A new database is one new module with a subclass decorated by :func:`register_adapter`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: sampling rate every record of the database must have (None: varies, not checked)
    expected_fs: ClassVar[float | None] = None
    #: label set of the database's task (beat classes, rhythm classes or diagnostic labels)
    label_names: ClassVar[tuple[str, ...]] = ()
    #: "beats" (per-beat labels from annotations) or "windows" (record-level labels)
    task: ClassVar[str] = "windows"
    #: what labels a window by default: "record" (the record's labels) or "rhythm" (the rhythm annotation covering
    #: most of it, for databases with rhythm intervals)
    window_labels: ClassVar[str] = "record"
    multilabel: ClassVar[bool] = False
    physionet: ClassVar[PhysioNetSource | None] = None
    #: a lead of this database's records that stands in for a population model's lead of another name (SVDB's ECG1,
    #: a modified lead II, for MIT-BIH's MLII); used when another database's beats join a population model's
    equivalent_leads: ClassVar[dict[str, str]] = {"MLII": "II"}
    #: the leads beats are cut from by default (None: every lead), and the leads of the windows task
    beat_leads: ClassVar[tuple[str, ...] | None] = None
    window_leads: ClassVar[tuple[str, ...] | None] = None
    #: raised when what ``load`` returns for the same files changes, so prepared caches of the database are rebuilt
    version: ClassVar[int] = 1

    @abstractmethod
    def records(self, root: str | Path) -> list[RecordRef]:
        """List the records under ``root`` (cheap: no signal is read)."""

    @abstractmethod
    def load(self, ref: RecordRef) -> Record:
        """Read one record; raises :class:`RecordError` naming the file when it is unusable."""

    def info(self, root: str | Path) -> DatasetInfo:
        """Records, subjects, duration and label counts (headers and index files only)."""
        refs = self.records(root)
        counts: collections.Counter[str] = collections.Counter()
        duration = 0.0
        problems: list[str] = []
        for ref in refs:
            counts.update(ref.labels)
            try:
                duration += recorded_seconds(ref.path)
            except RecordError as err:
                problems.append(str(err))
        return DatasetInfo(
            name=self.name,
            root=Path(root),
            n_records=len(refs),
            n_subjects=len({r.subject for r in refs}),
            duration_s=duration,
            class_counts=dict(sorted(counts.items())),
            problems=problems,
        )

    def _check_root(self, root: str | Path) -> Path:
        root = Path(root)
        if not root.is_dir():
            raise ConfigError(f"{root}: not a folder (expected the {self.name} database as PhysioNet ships it)")
        return root


_ADAPTERS: Registry[type[DatasetAdapter]] = Registry("dataset adapter", "dataset")


def register_adapter(cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
    return _ADAPTERS.register(cls)


def get_adapter(name: str) -> DatasetAdapter:
    return _ADAPTERS.lookup(name)()


def list_adapters() -> list[str]:
    return _ADAPTERS.names()


# --------------------------------------------------------------------------------------------------
# Checked WFDB reading


# bytes per sample of the WFDB storage formats we can size-check
_FORMAT_BYTES = {"8": 1.0, "16": 2.0, "61": 2.0, "80": 1.0, "160": 2.0, "212": 1.5, "310": 4 / 3, "311": 4 / 3,
                 "24": 3.0, "32": 4.0}
# the early-2020 CinC (Georgia) headers name the record "E00009.mat" on the record line
_QUIRK_RECORD_LINE = re.compile(r"^(\S+?)\.mat(\s)")


def wfdb_record_path(path: str | Path) -> Path:
    """A WFDB record's path the way wfdb wants it, without extension. A path to one of its files (``233.hea``,
    ``233.dat``, ``233.atr``, ``A00001.mat``) is accepted too, since that is what a file browser hands a user."""
    path = Path(path)
    if path.suffix in (".hea", ".dat", ".atr", ".mat") and not path.with_name(path.name + ".hea").is_file() \
            and (path.with_suffix(".hea").is_file() or path.is_file()):  # a bare data file: its missing header named
        return path.with_suffix("")
    return path


def read_header(path: str | Path) -> wfdb.Record:
    """Read a WFDB header, tolerating the CinC 2020 Georgia quirk; RecordError if missing or broken."""
    path = Path(path)
    hea = path.with_name(path.name + ".hea")
    if not hea.is_file():
        if hea.is_dir():
            raise RecordError(hea, "a folder, not a header file")
        if hea.is_symlink():  # it exists as a link, and is_file() followed it to nothing
            raise RecordError(hea, "a link that leads to no file (to itself, or in a loop)")
        if path.is_dir():  # a data folder given where one record is meant
            records = sorted(h.stem for h in path.glob("*.hea"))
            raise RecordError(path, "a folder, not a record: give one record in it, as FOLDER/NAME" +
                              (f" (records there: {', '.join(records[:5])}{' ...' if len(records) > 5 else ''})"
                               if records else " (it holds no WFDB header)"))
        bare = [f.name for f in path.parent.glob(f"{glob.escape(path.name)}.*")] if path.parent.is_dir() else []
        raise RecordError(hea, "header file missing" + (f" (found only {', '.join(sorted(bare))}: a WFDB record needs "
                                                         "its header)" if bare else ""))
    lines = header_fields(hea)
    check_header_rate(hea, lines)
    check_header_lines(hea, path, lines)
    try:
        return wfdb.rdheader(str(path))
    except wfdb.io.header.HeaderSyntaxError:
        with _quirk_fixed(path) as fixed:
            try:
                return wfdb.rdheader(str(fixed))
            except Exception as err:  # noqa: BLE001 - any parser failure is a broken header
                raise RecordError(hea, f"unreadable header ({err})") from err
    except Exception as err:  # noqa: BLE001
        raise RecordError(hea, f"unreadable header ({err})") from err


#: sampling rates ECG recorders use lie well inside this range (Hz): below it a QRS complex is a sample or two, above
#: it no recorder we know of; a header outside it is a typing error or another file
PLAUSIBLE_FS = (50.0, 20_000.0)
_RATE_FIELD = re.compile(r"^([^/(]*)")


def header_fields(hea: Path) -> list[list[str]]:
    """A WFDB header's lines as fields, comments and blank lines left out: the record line, then the signal lines.
    For what wfdb reads without a word (a rate it cannot parse, a gain of 0), the header's own text is looked at."""
    try:
        text = hea.read_text(errors="replace")
    except OSError as err:
        raise RecordError(hea, f"unreadable header ({err.strerror or err})") from err
    return [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


#: the signal formats WFDB defines (wfdb reads these; 0: a null signal, no samples, in a multi-segment layout)
WFDB_FORMATS = tuple(sorted({0, *(int(f) for f in DAT_FMTS)}))
_NAME = re.compile(r"[-A-Za-z0-9_.]+")  # the dot: CinC 2020 Georgia headers name "E00009.mat" (_quirk_fixed)
_FORMAT_FIELD = re.compile(r"^(\d+)")
_BASELINE = re.compile(r"\(([^)]*)\)")


def check_header_lines(hea: Path, path: Path, lines: list[list[str]]) -> None:
    """RecordError naming the record or ``hea`` for what wfdb reads wrong or reports as another fault: a record name
    outside WFDB's ASCII names, a record line whose signal count is not the number of signal lines, a signal file
    named by a path (wfdb refuses it as an "invalid record line"), a format WFDB does not define, a baseline that is
    not a whole number (wfdb then splits the line elsewhere). ``lines``: the header's (``header_fields``)."""
    if not lines:
        raise RecordError(hea, "an empty header: no record line")
    name_field = lines[0][0]
    name, slash, _ = name_field.partition("/")
    if "\ufffd" in name or not name.isprintable():  # bytes that are no text: another kind of file
        raise RecordError(hea, "not a WFDB header: its first line is no record line (it is not text)")
    for shown in (path.name, name):
        if not _NAME.fullmatch(shown):
            raise RecordError(path, f"a WFDB record name is ASCII letters, digits and _ (the header names {name!r}): "
                                    "rename the record's files and the name on its header's first line")
    if slash:  # a multi-segment record: segment lines follow, not signal lines
        return
    signals = lines[1:]
    if len(lines[0]) > 1 and lines[0][1].isdigit() and int(lines[0][1]) != len(signals):
        raise RecordError(hea, f"the record line says {int(lines[0][1])} signals and {len(signals)} signal lines "
                               "follow")
    for i, fields in enumerate(signals, 1):
        where = f"signal line {i}" + (f" ({' '.join(fields[8:])})" if len(fields) > 8 else "")
        file_name = fields[0]
        if "/" in file_name or "\\" in file_name:
            raise RecordError(hea, f"{where}: its signal file {file_name!r} is a path: a WFDB signal file lies beside "
                                   "its header (nothing outside the record's folder is read)")
        code = _FORMAT_FIELD.match(fields[1]) if len(fields) > 1 else None
        if code is None or int(code.group(1)) not in WFDB_FORMATS:
            raise RecordError(hea, f"{where}: format {fields[1] if len(fields) > 1 else '(none)'} is no WFDB signal "
                                   f"format (known: {', '.join(map(str, WFDB_FORMATS))})")
        baseline = _BASELINE.search(fields[2]) if len(fields) > 2 else None
        if baseline is not None and not re.fullmatch(r"-?\d+", baseline.group(1)):
            raise RecordError(hea, f"{where}: gain {fields[2]!r} is not GAIN(BASELINE)/UNITS with a whole-number "
                                   "baseline")


def check_header_rate(hea: Path, lines: list[list[str]]) -> None:
    """RecordError naming ``hea`` when its record line gives a sampling rate that is no number, not positive, or
    outside ``PLAUSIBLE_FS`` (wfdb reads a rate it cannot parse as its default 250 Hz, without a word). A record line
    without a rate is WFDB's default of 250 Hz, as the format defines. ``lines``: the header's (``header_fields``)."""
    fields = next(iter(lines), [])
    if len(fields) < 3:
        return
    text = _RATE_FIELD.match(fields[2]).group(1)
    try:
        fs = float(text)
    except ValueError:
        raise RecordError(hea, f"sampling rate {fields[2]!r} on the record line is not a number") from None
    if not np.isfinite(fs) or fs <= 0:
        raise RecordError(hea, f"sampling rate {text} Hz on the record line: it must be a positive number")
    if not PLAUSIBLE_FS[0] <= fs <= PLAUSIBLE_FS[1]:
        raise RecordError(hea, f"sampling rate {fs:g} Hz: no ECG recorder samples at that rate (expected "
                               f"{PLAUSIBLE_FS[0]:g}-{PLAUSIBLE_FS[1]:,.0f} Hz); is the header's record line right?")


class _quirk_fixed:
    """Context manager: a temporary copy of a record whose header's record line is repaired."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp: str | None = None

    def __enter__(self) -> Path:
        hea = self.path.with_name(self.path.name + ".hea")
        lines = hea.read_text(errors="replace").splitlines()
        if not lines or not _QUIRK_RECORD_LINE.match(lines[0]):
            raise RecordError(hea, "unreadable header (invalid record line)")
        lines[0] = _QUIRK_RECORD_LINE.sub(r"\1\2", lines[0], count=1)
        self.tmp = tempfile.mkdtemp(prefix="ecgadapt-hea-")
        fixed = Path(self.tmp) / self.path.name
        fixed.with_name(fixed.name + ".hea").write_text("\n".join(lines) + "\n")
        for sibling in self.path.parent.glob(self.path.name + ".*"):
            if sibling.suffix != ".hea":
                os.symlink(sibling.resolve(), Path(self.tmp) / sibling.name)
        return fixed

    def __exit__(self, *exc: object) -> None:
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _check_data_size(path: Path, header: wfdb.Record | wfdb.MultiRecord) -> None:
    """Compare each signal file's size with what the header promises (catches truncation and mismatch)."""
    if isinstance(header, wfdb.MultiRecord):  # a multi-segment record: each segment is a record of its own
        for segment in header.seg_name:
            if segment != "~":  # "~": a null segment, no signal file
                _check_data_size(path.parent / segment, read_header(path.parent / segment))
        return
    if not header.file_name:
        return
    per_file: dict[str, list[int]] = collections.defaultdict(list)
    for i, fname in enumerate(header.file_name):
        per_file[fname].append(i)
    for fname, idx in per_file.items():
        if fname == "~":  # no signal file: the layout segment of a variable-layout record
            continue
        data_file = path.parent / fname
        if not data_file.is_file():
            raise RecordError(data_file, "signal file missing")
        fmts = {header.fmt[i] for i in idx}
        if len(fmts) != 1 or next(iter(fmts)) not in _FORMAT_BYTES or header.sig_len is None:
            continue
        offset = int((header.byte_offset or [0] * header.n_sig)[idx[0]] or 0)
        # samples per frame: a multi-frequency record's signals may differ (ECG 2 per frame, the others 1)
        per_frame = sum(int(header.samps_per_frame[i] or 1) for i in idx) if header.samps_per_frame else len(idx)
        expected = offset + int(np.ceil(header.sig_len * per_frame * _FORMAT_BYTES[next(iter(fmts))]))
        actual = data_file.stat().st_size
        if actual < expected:
            raise RecordError(data_file, f"truncated: {actual} bytes, header promises {expected} "
                                         f"({header.sig_len} samples x {len(idx)} signals" +
                                         (f", {per_frame} samples a frame)" if per_frame != len(idx) else ")"))
        # padding is tolerated: fewer than 4 bytes, or than a frame where a frame is larger (writers pad odd-length 212
        # files, some to a word); beyond that the header and the file disagree
        frame_bytes = int(np.ceil(per_frame * _FORMAT_BYTES[next(iter(fmts))]))
        if actual - expected >= max(frame_bytes, 4):
            raise RecordError(data_file, f"header/data length mismatch: {actual} bytes, header's "
                                         f"{header.sig_len} samples need {expected}")


def read_wfdb_signal(path: str | Path, expected_fs: float | None = None, *, check_leads: bool = True,
                     channels: list[int] | None = None) -> tuple[np.ndarray, float, list[str], wfdb.Record]:
    """Read a WFDB record (``.dat`` or ``.mat`` signal files) as float32 [leads, samples] in physical units.

    Checks: header present and parseable, signal files present and of the promised size, sampling rate as
    expected, and (``check_leads``) no NaN samples, no flat-line lead. Each failure is a RecordError naming the
    file. ``check_leads=False`` is for a caller that reads one patient's record and checks only the leads it uses,
    letting invalid samples through as NaN (a Holter lead off for a while). ``channels``: read only these (by index,
    in this order), as wfdb does.
    """
    path = Path(path)
    header = read_header(path)
    hea = path.with_name(path.name + ".hea")
    if expected_fs is not None and abs(float(header.fs) - expected_fs) > 1e-6:
        raise RecordError(hea, f"unexpected sampling rate {header.fs:g} Hz (this database has {expected_fs:g} Hz)")
    _check_data_size(path, header)
    data_file = path.parent / (header.file_name[0] if getattr(header, "file_name", None) else path.name)
    n, step = int(header.sig_len or 0), max(1, READ_CHUNK_VALUES // max(1, header.n_sig))
    try:
        if n <= step:
            rec = _rdrecord(path, channels=channels)
            signal = np.asarray(rec.p_signal, dtype=np.float32).T
        else:  # a day-long Holter in pieces: wfdb holds every channel of what it reads as int64 and float64
            rec, pieces = None, []
            for start in range(0, n, step):
                rec = _rdrecord(path, channels=channels, sampfrom=start, sampto=min(n, start + step))
                pieces.append(np.asarray(rec.p_signal, dtype=np.float32).T)
            signal = np.concatenate(pieces, axis=1)
            del pieces
    except RecordError:
        raise
    except MemoryError as err:
        raise RecordError(data_file, f"too large to read into this machine's memory ({n:,} samples of "
                                     f"{len(channels) if channels is not None else header.n_sig} lead(s) at "
                                     f"{header.fs:g} Hz; {err})") from err
    except Exception as err:  # noqa: BLE001 - wfdb raises many types for broken files
        raise RecordError(data_file, f"unreadable signal ({type(err).__name__}: {err})") from err
    leads = channel_names(rec.sig_name, channels if channels is not None else range(signal.shape[0]))
    check_checksums(header, rec, signal, channels, data_file, leads)
    if check_leads:
        check_signal(signal, leads, data_file)
    elif signal.size == 0:
        raise RecordError(data_file, "empty signal")
    return signal, float(rec.fs), leads, header


def check_checksums(header: wfdb.Record | wfdb.MultiRecord, rec: wfdb.Record, signal: np.ndarray,
                    channels: list[int] | None, data_file: Path, leads: list[str]) -> None:
    """RecordError naming ``data_file`` when a lead's samples do not sum to the checksum its header line gives (WFDB:
    the 16-bit sum of the stored samples, invalid ones as their format's invalid value): a signal file that is another
    record's, or damaged, would otherwise be read as this record without a word. Skipped where a header gives no
    checksum or 0 (CinC 2017's headers all do: a field left unfilled, not a sum), for formats without a known invalid
    value when a lead has invalid samples, and for multi-frequency and multi-segment records."""
    sums = getattr(header, "checksum", None)
    if isinstance(header, wfdb.MultiRecord) or not sums or any(c is None for c in sums):
        return
    if header.samps_per_frame and any(int(s or 1) != 1 for s in header.samps_per_frame):
        return
    for k, c in enumerate(channels if channels is not None else range(signal.shape[0])):
        lead = signal[k]
        invalid, invalid_value = np.isnan(lead), INVALID_SAMPLE_VALUE.get(str(header.fmt[c]))
        if not int(sums[c]) or (invalid.any() and invalid_value is None):
            continue
        gain, baseline = float(rec.adc_gain[k]), float(rec.baseline[k])
        stored = np.round(np.where(invalid, 0.0, lead.astype(np.float64)) * gain + baseline).astype(np.int64)
        stored[invalid] = invalid_value or 0
        if int(stored.sum()) % 65536 != int(sums[c]) % 65536:
            raise RecordError(data_file, f"lead {leads[k]}: its samples do not match the header's checksum "
                                         f"({int(sums[c])}): the signal file of another record, or a damaged one")


def header_leads(path: str | Path, header: wfdb.Record | wfdb.MultiRecord) -> list[str]:
    """The record's lead names from its header; those of a multi-segment record live in its segments' headers, so
    its first sample is read for them."""
    names = header.sig_name
    if not names and isinstance(header, wfdb.MultiRecord):
        names = _rdrecord(Path(path), sampto=1).sig_name
    return channel_names(names, range(header.n_sig))


def _rdrecord(path: Path, **kwargs: Any) -> wfdb.Record:
    try:
        return wfdb.rdrecord(str(path), physical=True, **kwargs)
    except wfdb.io.header.HeaderSyntaxError:
        with _quirk_fixed(path) as fixed:
            return wfdb.rdrecord(str(fixed), physical=True, **kwargs)


def check_signal(signal: np.ndarray, leads: list[str], source: str | Path, *, allow_gaps: bool = False) -> None:
    """RecordError for NaN samples (with ``allow_gaps``: only a lead with no valid sample), a flat-line lead or an
    empty signal."""
    if signal.size == 0:
        raise RecordError(source, "empty signal")
    nan_per_lead = np.isnan(signal).sum(axis=1)
    for lead, n_nan in zip(leads, nan_per_lead):
        if n_nan == signal.shape[1]:
            raise RecordError(source, f"lead {lead} has no valid sample")
        if n_nan and not allow_gaps:
            raise RecordError(source, f"lead {lead} has {int(n_nan)} NaN samples")
    ptp = np.nanmax(signal, axis=1) - np.nanmin(signal, axis=1)
    for lead, span in zip(leads, ptp):
        if span < 1e-6:
            raise RecordError(source, f"lead {lead} is a flat line (constant value)")


_KNOWN_SYMBOLS = frozenset(ann_label_table["symbol"].astype(str)) - {" "}


def read_annotations(path: str | Path, extension: str = "atr") -> Annotations:
    """Read a WFDB annotation file (or an ISHNE Holter one, told by its first bytes); RecordError if it is missing,
    unreadable, holds unknown codes or two beats at one time."""
    path = Path(path)
    ann_file = path.with_name(f"{path.name}.{extension}")
    if not ann_file.is_file():
        raise RecordError(ann_file, f"annotation file missing (.{extension})")
    from ecgadapt.data.ishne import ANN_MAGIC, read_ishne_annotations  # here: ishne builds on this module

    with ann_file.open("rb") as f:
        ishne = f.read(len(ANN_MAGIC)) == ANN_MAGIC
    if ishne:  # an ISHNE Holter annotation file, whatever its extension
        return one_label_a_beat(read_ishne_annotations(ann_file), ann_file)
    return one_label_a_beat(_read_wfdb_annotations(path, extension, ann_file), ann_file)


def _read_wfdb_annotations(path: Path, extension: str, ann_file: Path) -> Annotations:
    # a WFDB annotation file ends with a zero word; wfdb.rdann reads a cut file (an interrupted copy) without a word,
    # and every beat after the cut would silently go unannotated
    with ann_file.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(size - 2, 0))
        if size % 2 or f.read(2) != b"\x00\x00":
            raise RecordError(ann_file, "truncated or not a WFDB annotation file (no end-of-file marker)")
    try:
        ann = wfdb.rdann(str(path), extension)
    except Exception as err:  # noqa: BLE001
        raise RecordError(ann_file, f"not a WFDB annotation file, or a damaged one (wfdb: {type(err).__name__}: "
                                    f"{err})") from err
    symbols = np.asarray(ann.symbol, dtype=str)
    unknown = sorted(set(symbols.tolist()) - _KNOWN_SYMBOLS)
    if unknown:
        raise RecordError(ann_file, f"unknown annotation code(s) {', '.join(map(repr, unknown))}")
    aux = [_clean_aux(a) for a in (ann.aux_note or [""] * len(symbols))]
    return Annotations(sample=np.asarray(ann.sample, dtype=np.int64), symbol=symbols, aux=aux)


def _clean_aux(aux: str | None) -> str:
    aux = (aux or "").replace("\x00", "").strip()
    return "" if aux == "None" else aux


def read_annotated_signal(path: str | Path, expected_fs: float | None = None, extension: str = "atr", *,
                          required: bool = True, check_leads: bool = True, channels: list[int] | None = None
                          ) -> tuple[np.ndarray, float, list[str], wfdb.Record, Annotations | None]:
    """``read_wfdb_signal`` plus the record's annotation file (``None`` if absent and not ``required``), checked
    to lie within the signal."""
    path = Path(path)
    signal, fs, leads, header = read_wfdb_signal(path, expected_fs, check_leads=check_leads, channels=channels)
    return signal, fs, leads, header, annotations_within(path, extension, signal.shape[1], required=required)


def annotations_within(path: str | Path, extension: str, n_samples: int, *, required: bool = True) -> Annotations | None:
    """``read_annotations``, checked to lie within a signal of ``n_samples`` (``None`` if the file is absent and not
    ``required``)."""
    path = Path(path)
    ann_file = path.with_name(f"{path.name}.{extension}")
    if not required and not ann_file.is_file():
        return None
    return within_signal(read_annotations(path, extension), ann_file, n_samples)


def within_signal(ann: Annotations, ann_file: Path, n_samples: int) -> Annotations:
    """``ann``, checked to lie within a signal of ``n_samples``; RecordError naming ``ann_file`` otherwise."""
    # a beat must lie within the signal. Another annotation may also sit exactly at its end: CPSC 2021 closes an AF
    # episode that lasts to the end of the record with a rhythm change there ("(N" at sample n of an n-sample record)
    beyond = ann.sample > n_samples
    at_end = (ann.sample == n_samples) & ann.beat_mask()
    if not beyond.any() and at_end.sum() == 1:
        # one beat one past the last sample (seen on a PhysioNet Holter record): a writer's off-by-one at the
        # boundary, not another record's annotations; that beat is dropped, said, and the patient kept
        keep = ~at_end
        i = int(np.flatnonzero(at_end)[0])
        return replace(ann, sample=ann.sample[keep], symbol=ann.symbol[keep],
                       aux=[a for a, k in zip(ann.aux, keep) if k],
                       notes=[*ann.notes, f"{ann_file.name}: its last beat ('{ann.symbol[i]}' at sample {n_samples}) "
                                          f"lies one sample past the end of the {n_samples}-sample signal: dropped"])
    beyond |= at_end
    if beyond.any():
        i = int(np.flatnonzero(beyond)[0])
        raise RecordError(ann_file, f"annotation beyond the end of the signal ({int(beyond.sum())} of {len(ann.sample)}, "
                                    f"the first '{ann.symbol[i]}' at sample {int(ann.sample[i])} of a "
                                    f"{n_samples}-sample signal): the annotation file of another record, or a signal "
                                    "cut short?")
    return ann


def rhythm_intervals(ann: Annotations, n_samples: int) -> list[RhythmInterval]:
    """Rhythm intervals from rhythm-change ('+') annotations whose aux note starts with '('."""
    changes = [(int(s), a) for s, sym, a in zip(ann.sample, ann.symbol, ann.aux) if sym == "+" and a.startswith("(")]
    intervals = []
    for i, (start, label) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else n_samples
        if end > start:
            intervals.append(RhythmInterval(start=start, end=end, label=label))
    return intervals


def recorded_seconds(path: str | Path) -> float:
    """A record's duration by its header, where its signal files are there and not empty; a RecordError naming the
    record otherwise (a header alone is no recording: it must not count in a database's hours)."""
    header = read_header(path)
    files = [Path(path).parent / f for f in dict.fromkeys(getattr(header, "file_name", None) or []) if f and f != "~"]
    unreadable = [f.name + (" (empty)" if f.is_file() else " (missing)") for f in files
                  if not f.is_file() or f.stat().st_size == 0]
    if unreadable:
        raise RecordError(path, f"signal file(s) {', '.join(unreadable)}: not counted in the duration")
    return (header.sig_len or 0) / header.fs


def annotated_beats_info(adapter: DatasetAdapter, root: str | Path, refs: list[RecordRef],
                         notes: list[str] | None = None) -> DatasetInfo:
    """Records, subjects, duration and the annotation symbols of a beat-annotated database (headers and annotation
    files only), with their AAMI classes; each unreadable record is a problem naming its file."""
    from ecgadapt.data.record import AAMI_CLASSES, AAMI_MAP

    symbols: collections.Counter[str] = collections.Counter()
    duration = 0.0
    problems = []
    for ref in refs:
        try:
            duration += recorded_seconds(ref.path)
            symbols.update(read_annotations(ref.path).symbol.tolist())
        except RecordError as err:
            problems.append(str(err))
    aami = collections.Counter(AAMI_MAP[s] for s in symbols.elements() if s in AAMI_MAP)
    return DatasetInfo(name=adapter.name, root=Path(root), n_records=len(refs),
                       n_subjects=len({r.subject for r in refs}), duration_s=duration,
                       class_counts=dict(symbols.most_common()),
                       extra_counts={"AAMI beats (all records)": {c: aami.get(c, 0) for c in AAMI_CLASSES}},
                       problems=problems, notes=list(notes or []))


_GAIN = re.compile(r"^[-+0-9.eE]+")


def uncalibrated_leads(path: str | Path) -> list[str]:
    """The leads of a WFDB record whose header gives gain 0 or none, which WFDB defines as uncalibrated (wfdb reads
    them at the default 200 adu/mV without a word, so the header's text is read here)."""
    path = Path(path)
    try:
        lines = header_fields(path.with_name(path.name + ".hea"))
    except RecordError:
        return []
    if not lines or len(lines[0]) < 2 or not lines[0][1].isdigit():
        return []
    found = []
    for k, fields in enumerate(lines[1:1 + int(lines[0][1])]):
        gain = _GAIN.match(fields[2]) if len(fields) > 2 else None
        if gain is None or float(gain.group(0).rstrip("eE") or 0) == 0:
            found.append(fields[8] if len(fields) > 8 else f"ch{k}")
    return found


def find_records(root: Path, pattern: str = "*.hea") -> Iterable[Path]:
    """Record paths (no extension) for every header below ``root``, sorted."""
    for hea in sorted(root.rglob(pattern)):
        yield hea.with_suffix("")
