"""Prepared arrays: memory-mapped, reused, resumable after an interruption, atomic."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ecgadapt._atomic import atomic_write, atomic_write_json
from ecgadapt.prepare import PreparedDataset, default_settings, prepare_dataset


def test_prepare_embedded_beats(embedded: Path, tmp_path: Path) -> None:
    prepared, report = prepare_dataset("mitdb", embedded, cache_root=tmp_path, progress=False)
    assert report.prepared == 4 and not report.failures
    assert isinstance(prepared.X, np.memmap)
    assert prepared.X.shape[1:] == (1, 252)  # MLII, 0.25 s + 0.45 s at 360 Hz
    assert len(prepared) == len(prepared.y) == len(prepared.rr) == len(prepared.record) == len(prepared.subject)
    counts = prepared.class_counts()
    assert counts["V"] > 1800 and counts["Q"] == 0 and sum(counts.values()) == len(prepared)
    # beats of record 233 are in time order and each R peak is centred in its window
    r233 = prepared.record_names.index("233")
    rows = slice(*prepared.records[r233]["rows"])
    assert np.all(np.diff(prepared.position[rows]) > 0)
    assert np.abs(prepared.X[rows][:, 0, 90]).mean() > np.abs(prepared.X[rows][:, 0, 10]).mean()


def test_prepare_reuses_complete_cache(embedded: Path, tmp_path: Path) -> None:
    prepare_dataset("mitdb", embedded, cache_root=tmp_path, progress=False)
    seen = []
    prepared, report = prepare_dataset("mitdb", embedded, cache_root=tmp_path, progress=False, on_record=seen.append)
    assert report.reused == 4 and report.prepared == 0 and seen == []
    # another setting is another cache entry, never stale data
    other, _ = prepare_dataset("mitdb", embedded, replace(default_settings("mitdb"), beat_before_s=0.3),
                               cache_root=tmp_path, progress=False)
    assert other.cache.dir != prepared.cache.dir and other.X.shape[2] == 270


def test_interrupted_prepare_resumes(embedded: Path, tmp_path: Path) -> None:
    def interrupt_after_two(name: str, seen: list = []) -> None:  # noqa: B006 - counter across calls
        seen.append(name)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset("mitdb", embedded, cache_root=tmp_path, progress=False, on_record=interrupt_after_two)
    entry = next(tmp_path.iterdir())
    assert not (entry / "manifest.json").exists()  # not complete, never read as such
    with pytest.raises(Exception, match="incomplete"):
        PreparedDataset.open(entry)
    done = []
    prepared, report = prepare_dataset("mitdb", embedded, cache_root=tmp_path, progress=False, on_record=done.append)
    assert report.reused == 2 and report.prepared == 2 and done == ["232", "233"]
    assert PreparedDataset.open(entry).record_names == ["200", "213", "232", "233"]
    assert len(PreparedDataset.open(entry)) == len(prepared)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def fail(f) -> None:
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


@pytest.mark.shared
def test_windows_task_ptbxl_and_dropped_short_records(shared_data: Path, tmp_path: Path) -> None:
    prepared, report = prepare_dataset("ptbxl", shared_data / "ptbxl", cache_root=tmp_path, progress=False, workers=2)
    assert prepared.X.shape == (500, 12, 1000) and prepared.y.shape == (500, 5)
    assert prepared.label_names == ("NORM", "MI", "STTC", "HYP", "CD")
    # CinC 2017: 10 s windows at 100 Hz; records shorter than 10 s dropped and counted
    short = ["A00592", "A00894", "A00984"]  # 9.99 s, 9.56 s, 9.36 s at 300 Hz
    sub = [f"A{i:05d}" for i in range(1, 51)] + short
    prepared, report = prepare_dataset("cinc2017", shared_data / "challenge2017", cache_root=tmp_path, progress=False,
                                       records=sub)
    assert len(prepared) == 50 and [d["record"] for d in report.dropped] == short
    assert all("shorter than 10 s" in d["reason"] for d in report.dropped)
    assert prepared.X.shape[1:] == (1, 1000) and set(np.unique(prepared.y)) <= {0, 1, 2, 3}


def test_detected_peaks_are_labelled_by_the_nearest_annotated_beat(embedded: Path, tmp_path: Path) -> None:
    from ecgadapt.prepare import nearest_index

    assert nearest_index(np.array([10, 20, 40]), np.array([0, 14, 16, 31, 29, 99])).tolist() == [0, 0, 1, 2, 1, 2]
    settings = replace(default_settings("mitdb"), peaks="detected")
    detected, _ = prepare_dataset("mitdb", embedded, settings, cache_root=tmp_path, progress=False, records=["233"])
    annotated, _ = prepare_dataset("mitdb", embedded, cache_root=tmp_path, progress=False, records=["233"])
    y = np.asarray(detected.y)
    assert (y >= 0).mean() > 0.99  # the detector agrees with the annotations on record 233 (Se, PPV > 0.99)
    counts, reference = detected.class_counts(), annotated.class_counts()
    for cls in ("N", "V"):
        assert abs(counts[cls] - reference[cls]) <= 0.02 * reference[cls]


def _concat_repeatedly(cache_dir: str, names: list[str], times: int) -> None:
    from ecgadapt.cache import ArrayCache

    cache = ArrayCache("unused", "t", {})
    cache.dir = Path(cache_dir)
    for _ in range(times):
        cache.concat_parts(names)


def test_two_processes_consolidating_one_entry_do_not_corrupt_it(tmp_path: Path) -> None:
    """Two jobs preparing the same data at once (e.g. two trainings started together) once died of SIGBUS: both
    wrote one memory-mapped temporary file, and the second truncated it under the first."""
    import multiprocessing

    from ecgadapt.cache import ArrayCache

    cache = ArrayCache(tmp_path, "t", {"k": 1})
    rng = np.random.default_rng(0)
    names = [f"p{i}" for i in range(8)]
    for name in names:
        cache.write_part(name, X=rng.standard_normal((1500, 2, 500)).astype(np.float32))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_concat_repeatedly, args=(str(cache.dir), names, 4)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    expected = np.concatenate([cache.read_part(n)["X"] for n in names])
    assert np.array_equal(np.load(cache.dir / "arrays" / "X.npy"), expected)
    assert not list((cache.dir / "arrays").glob("*.tmp"))


def test_json_is_strict_undefined_numbers_become_null(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path / "s.json", {"f1": float("nan"), "lb": np.float32("inf"), "ok": np.float64(0.5),
                                                   "rows": [np.array([1.0, np.nan]), (2, -math.inf)], "n": np.int64(3)})

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    assert json.loads(path.read_text(), parse_constant=refuse) == {"f1": None, "lb": None, "ok": 0.5,
                                                                     "rows": [[1.0, None], [2, None]], "n": 3}


def test_atomic_files_get_the_permissions_of_an_ordinary_write(tmp_path: Path) -> None:
    import os

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = atomic_write_json(tmp_path / "atomic.json", {"a": 1})
    assert os.stat(atomic).st_mode & 0o777 == os.stat(plain).st_mode & 0o777  # not mkstemp's private 0600


def test_tests_prepare_into_a_temporary_cache(temporary_cache) -> None:
    from ecgadapt.cache import default_cache_root

    assert default_cache_root() == temporary_cache != Path.home() / ".cache" / "ecgadapt"
