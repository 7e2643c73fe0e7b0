"""Content-addressed cache of prepared arrays: per-record parts, then memory-mappable ``.npy`` arrays.

Layout of one entry (``<root>/<namespace>-<key>/``)::

    parts/<record>.npz      one per record, written atomically: an interrupted preparation resumes from here
    arrays/<name>.npy       the parts concatenated; read with ``np.load(mmap_mode='r')``
    manifest.json           written last: its presence means the entry is complete

The cache knows nothing about what the arrays mean; ``key_material`` (dataset, settings, record list) decides
the key, so a change of any preprocessing setting gets a new entry instead of stale data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ecgadapt._atomic import atomic_save_npy, atomic_save_npz, atomic_write_json

MANIFEST = "manifest.json"


def default_cache_root() -> Path:
    return Path(os.environ.get("ECGADAPT_CACHE", Path.home() / ".cache" / "ecgadapt"))


def cache_key(material: dict[str, Any]) -> str:
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "__", name)


class ArrayCache:
    def __init__(self, root: str | Path, namespace: str, key_material: dict[str, Any]):
        self.key = cache_key(key_material)
        self.dir = Path(root) / f"{_safe(namespace)}-{self.key}"
        self.key_material = key_material

    # parts ------------------------------------------------------------------------------------
    def part_path(self, name: str) -> Path:
        return self.dir / "parts" / f"{_safe(name)}.npz"

    def has_part(self, name: str) -> bool:
        return self.part_path(name).is_file()

    def write_part(self, name: str, **arrays: np.ndarray) -> None:
        atomic_save_npz(self.part_path(name), **arrays)

    def read_part(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.part_path(name), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    # consolidated arrays -------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    def is_complete(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_path.read_text())

    def concat_parts(self, names: Iterable[str]) -> list[int]:
        """Concatenate the parts of ``names`` (in order) into one ``arrays/<key>.npy`` per array key.

        Keys starting with ``__`` (per-record metadata) are not concatenated. Arrays are streamed into a
        memory-mapped temporary file (a dataset larger than RAM works too) and renamed into place.
        Returns the number of rows each part contributed.
        """
        names = list(names)
        shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        rows: list[int] = []
        for name in names:
            with np.load(self.part_path(name), allow_pickle=False) as data:
                keys = [k for k in data.files if not k.startswith("__")]
                rows.append(int(data[keys[0]].shape[0]) if keys else 0)
                for k in keys:
                    arr = data[k]
                    prev = shapes.get(k)
                    shapes[k] = (((prev[0][0] if prev else 0) + arr.shape[0], *arr.shape[1:]), arr.dtype)
        for k, (shape, dtype) in shapes.items():
            # a name of this process's own: two processes preparing the same entry at once must not write into
            # (and truncate) one memory-mapped file; each renames a complete file into place
            tmp = self.dir / "arrays" / f".{k}.npy.{os.getpid()}.tmp"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            pos = 0
            for name in names:
                with np.load(self.part_path(name), allow_pickle=False) as data:
                    arr = data[k]
                out[pos:pos + len(arr)] = arr
                pos += len(arr)
            out.flush()
            del out
            os.replace(tmp, self.dir / "arrays" / f"{k}.npy")
        return rows

    def write_array(self, key: str, array: np.ndarray) -> None:
        atomic_save_npy(self.dir / "arrays" / f"{key}.npy", array)

    def write_manifest(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write the manifest last: from then on the entry counts as complete."""
        arrays = {p.stem: np.load(p, mmap_mode="r") for p in sorted((self.dir / "arrays").glob("*.npy"))}
        manifest = {**manifest, "arrays": {k: {"shape": list(a.shape), "dtype": str(a.dtype)} for k, a in arrays.items()},
                    "key": self.key, "key_material": self.key_material}
        atomic_write_json(self.manifest_path, manifest)
        return manifest

    @classmethod
    def at(cls, cache_dir: str | Path) -> ArrayCache:
        """The entry in an existing folder (its key material is read back from the manifest if there)."""
        cache = cls.__new__(cls)
        cache.dir = Path(cache_dir)
        cache.key = cache.dir.name.rsplit("-", 1)[-1]
        cache.key_material = json.loads(cache.manifest_path.read_text()).get("key_material", {}) \
            if cache.manifest_path.is_file() else {}
        return cache

    def load_arrays(self, mmap: bool = True) -> dict[str, np.ndarray]:
        arrays_dir = self.dir / "arrays"
        return {p.stem: np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
                for p in sorted(arrays_dir.glob("*.npy"))}
