"""Beat labels from a CSV file: a cardiologist's labels kept in a spreadsheet rather than a WFDB annotation file.

The usual way to get them: ``ecgadapt annotate`` writes ``beats.csv`` with a row for each beat the population model
classified. A reviewer adds a ``label`` column, fills it in for the minutes they checked (a detection that is no beat
stays empty, and a missed beat gets a row of its own), and ``ecgadapt personalize --labels`` reads the file back.
``personalize``'s own ``beats.csv`` works too, through its ``reference`` column.

One row a beat. The beat's place is ``sample`` (its sample in the recording, at the recording's own rate), or
``time_s`` (seconds from the recording's start) where there is no ``sample`` column. Its label is ``label`` (or
``reference`` where there is no ``label`` column): an AAMI class (N, S, V, F, Q) or a MIT-BIH beat symbol, with
MIT-BIH's case (``f`` is a fusion of paced and normal beats, an AAMI Q; ``F`` a fusion of ventricular and normal, an
AAMI F). Rows with an empty label are not beat labels. Column names are read in any case; the columns may be
separated by commas, semicolons or tabs, as spreadsheets export them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ecgadapt.data.base import one_label_a_beat
from ecgadapt.data.record import AAMI_CLASSES, AAMI_MAP, Annotations
from ecgadapt.errors import RecordError

POSITION_COLUMNS = ("sample", "time_s")
LABEL_COLUMNS = ("label", "reference")
#: MIT-BIH beat symbols that are not themselves AAMI class letters, for the error message
_OTHER_SYMBOLS = "".join(s for s in AAMI_MAP if s not in AAMI_CLASSES)


def read_label_csv(path: str | Path, fs: float) -> Annotations:
    """The beat labels of a CSV file as annotations (MIT-BIH symbols), in time order; ``fs``: the recording's sampling
    rate, for a ``time_s`` column. RecordError naming the file (and the line) for anything it cannot read as one
    label a beat."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(path, "labels file missing")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's export may begin with a byte-order mark
    except UnicodeDecodeError as err:
        utf16 = path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")  # Excel's "Unicode text"
        raise RecordError(path, "a UTF-16 text file: save it as CSV UTF-8" if utf16 else
                          f"not UTF-8 text ({err}): save it as CSV UTF-8") from err
    except OSError as err:
        raise RecordError(path, f"unreadable as text ({type(err).__name__}: {err}): a CSV file of beat labels "
                                "is expected") from err
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise RecordError(path, "empty: a header line naming a sample or time_s column and a label column is expected")
    delimiter = max((",", ";", "\t"), key=lines[0].count)
    rows = csv.reader(lines, delimiter=delimiter)
    header = [name.strip().lower() for name in next(rows)]
    position = next((c for c in POSITION_COLUMNS if c in header), None)
    label = next((c for c in LABEL_COLUMNS if c in header), None)
    if position is None or label is None:
        wanted = " or ".join(POSITION_COLUMNS) if position is None else " or ".join(LABEL_COLUMNS)
        raise RecordError(path, f"no {wanted} column (its columns: {', '.join(header) or 'none'})")
    at, at_label = header.index(position), header.index(label)
    samples, symbols = [], []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line, as a spreadsheet may leave at the end
        symbol = row[at_label].strip() if at_label < len(row) else ""
        if not symbol:
            continue
        if symbol not in AAMI_MAP:
            raise RecordError(path, f"line {line}: label {symbol!r} is no beat label: an AAMI class "
                                    f"({' '.join(AAMI_CLASSES)}) or a MIT-BIH beat symbol "
                                    f"({' '.join(_OTHER_SYMBOLS)}), case as MIT-BIH writes them")
        cell = row[at].strip() if at < len(row) else ""
        # where commas do not separate the columns, a comma in a time is a decimal comma (1,5 s)
        samples.append(_sample_of(cell if delimiter == "," else cell.replace(",", "."), position, fs, path, line))
        symbols.append(symbol)
    if not samples:
        raise RecordError(path, f"no beat labels in it (every {label} cell is empty)")
    order = np.argsort(samples, kind="stable")  # a spreadsheet may have been sorted by another column
    ann = Annotations(sample=np.asarray(samples, dtype=np.int64)[order], symbol=np.asarray(symbols, dtype=str)[order],
                      aux=[""] * len(samples))
    return one_label_a_beat(ann, path)


def _sample_of(cell: str, column: str, fs: float, path: Path, line: int) -> int:
    """The sample a row's ``sample`` or ``time_s`` cell names."""
    try:
        value = float(cell)
    except ValueError:
        raise RecordError(path, f"line {line}: {column} {cell!r} is not a number") from None
    if not np.isfinite(value):
        raise RecordError(path, f"line {line}: {column} {cell!r} is not a finite number")
    if column == "sample" and value != int(value):
        raise RecordError(path, f"line {line}: sample {cell!r} is not a whole number of samples")
    sample = int(value) if column == "sample" else int(round(value * fs))
    if sample < 0:
        raise RecordError(path, f"line {line}: {column} {cell} is before the recording's start")
    return sample
