"""Atomic file writes: a reader never sees a half-written file, an interrupted writer leaves nothing behind."""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ecgadapt.errors import ConfigError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# the permissions an ordinary write would give (mkstemp's temporary file is private: 0600)
_FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path`` and rename it into place when it succeeded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # named by the file meant, not by a temporary name the user never chose
        raise type(err)(err.errno, err.strerror, str(path)) from err
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)  # a report or annotation file others may read, like any file the user writes
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def output_folder(path: str | Path) -> Path:
    """``path`` checked, before any work is done, to be usable as an output folder (it is not created here). A file in
    its place, or in place of one of its parents, would otherwise fail the first write, after minutes of work."""
    path = Path(path)
    if path.is_symlink() and not path.exists():  # a link to nothing: mkdir would fail on it after the work
        raise ConfigError(f"{path}: cannot be an output folder: a link to {os.readlink(path)}, which does not exist")
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                raise ConfigError(f"{path}: cannot be an output folder: " +
                                  ("a file of that name exists" if existing == path else f"{existing} is a file"))
            if not os.access(existing, os.W_OK | os.X_OK):
                raise ConfigError(f"{path}: cannot be an output folder: {existing} is not writable")
            break
    return path


def output_file(path: str | Path) -> Path:
    """``path`` checked, before any work is done, to be usable as an output file: not a folder, and in a folder that
    ``output_folder`` accepts."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: cannot be an output file: a folder of that name exists")
    output_folder(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Strict JSON: NaN and infinity (an undefined statistic, e.g. the F1 of a class no beat belongs to) become null,
    because JSON has no such numbers and strict parsers (JavaScript's, for one) reject Python's ``NaN``."""
    text = json.dumps(_finite_or_null(obj), indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def atomic_save_npy(path: str | Path, array: np.ndarray) -> Path:
    return atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))


def atomic_save_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    def write(f: BinaryIO) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        f.write(buf.getvalue())

    return atomic_write(path, write)


def _finite_or_null(o: Any) -> Any:
    if isinstance(o, (np.generic, np.ndarray)):
        o = o.item() if isinstance(o, np.generic) else o.tolist()
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite_or_null(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite_or_null(v) for v in o]
    return o


def _json_default(o: Any) -> Any:
    # numpy scalars and arrays never get here: _finite_or_null has made them plain numbers and lists
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
