"""Protocols: no subject crosses splits (patient-wise), no stretch of time is in two splits (patient-specific)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgadapt.data import get_adapter
from ecgadapt.prepare import prepare_dataset
from ecgadapt.protocols import (DS1, DS2, LeakError, Protocol, Segment, build_protocol, list_protocols)

MITDB_PROTOCOLS = [n for n, ds in list_protocols().items() if ds in ("mitdb", "*")]


def _assert_no_leak(protocol: Protocol) -> None:
    names = list(protocol.splits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = protocol.subjects(a) & protocol.subjects(b)
            if protocol.patient_wise:
                assert shared <= set(protocol.allowed_overlaps), (a, b, shared)
            else:
                for sa in protocol.splits[a]:
                    for sb in protocol.splits[b]:
                        if sa.record == sb.record:
                            assert sa.unit == sb.unit and (sa.end is not None and sa.end <= sb.start
                                                           or sb.end is not None and sb.end <= sa.start)


@pytest.mark.shared
@pytest.mark.parametrize("name", MITDB_PROTOCOLS)
def test_no_subject_crosses_splits_mitdb(name: str, shared_data: Path) -> None:
    refs = get_adapter("mitdb").records(shared_data / "mitdb")
    protocol = build_protocol(name, "mitdb", refs)
    assert not protocol.missing_records
    _assert_no_leak(protocol)


@pytest.mark.shared
def test_no_subject_crosses_splits_ptbxl_and_cinc2017(shared_data: Path) -> None:
    ptbxl = get_adapter("ptbxl").records(shared_data / "ptbxl")
    for protocol in (build_protocol("ptbxl-folds", "ptbxl", ptbxl), build_protocol("patient-split", "ptbxl", ptbxl)):
        _assert_no_leak(protocol)
        assert not protocol.allowed_overlaps
    cinc = get_adapter("cinc2017").records(shared_data / "challenge2017")
    protocol = build_protocol("patient-split", "cinc2017", cinc, seed=3)
    _assert_no_leak(protocol)
    assert sum(len(v) for v in protocol.splits.values()) == 7000


def test_de_chazal_lists_and_documented_same_subject() -> None:
    assert len(DS1) == len(DS2) == 22 and not set(DS1) & set(DS2)
    assert not {"102", "104", "107", "217"} & set(DS1 + DS2)


def test_inter_patient_overlap_is_documented_not_silent(embedded: Path, tmp_path: Path) -> None:
    from ecgadapt.data.record import RecordRef

    refs = [RecordRef("mitdb", n, tmp_path / n, subject="201" if n == "202" else n) for n in DS1 + DS2]
    loose = build_protocol("mitdb-inter-patient", "mitdb", refs)
    assert loose.subjects("train") & loose.subjects("test") == {"201"} and "201" in loose.allowed_overlaps
    strict = build_protocol("mitdb-inter-patient-strict", "mitdb", refs)
    assert not strict.subjects("train") & strict.subjects("test")
    loose.allowed_overlaps = {}
    with pytest.raises(LeakError, match=r"subject\(s\) \['201'\] in both 'train' and 'test'"):
        loose.check()


def test_leaks_are_caught() -> None:
    subj = {"a": "p1", "b": "p1", "c": "p2"}
    with pytest.raises(LeakError, match="p1"):
        Protocol("x", "mitdb", "", {"train": [Segment("a")], "test": [Segment("b")]}, subj).check()
    with pytest.raises(LeakError, match="same time"):
        Protocol("y", "mitdb", "", {"adapt": [Segment("c", 0, 400)], "test": [Segment("c", 300)]}, subj,
                 patient_wise=False).check()
    Protocol("z", "mitdb", "", {"adapt": [Segment("c", 0, 300)], "test": [Segment("c", 300)]}, subj,
             patient_wise=False).check()


def test_patient_specific_indices_split_time(embedded: Path, tmp_path: Path) -> None:
    prepared, _ = prepare_dataset("mitdb", embedded, cache_root=tmp_path, progress=False)
    protocol = build_protocol("mitdb-patient-specific", "mitdb", get_adapter("mitdb").records(embedded))
    assert set(protocol.missing_records) >= {"100", "101"}  # only 4 records are embedded
    idx = protocol.indices(prepared)
    t = prepared.time_s()
    assert len(idx["population"]) == 0 and not np.intersect1d(idx["adapt"], idx["test"]).size
    assert t[idx["adapt"]].max() < 300 <= t[idx["test"]].min()
    assert len(idx["adapt"]) + len(idx["test"]) == len(prepared)
    ratio = build_protocol("subject-ratio", "mitdb", get_adapter("mitdb").records(embedded), ratio=0.1)
    ridx = ratio.indices(prepared)
    tenth = 0.1 * 650000 / 360  # 10 % of each 30:05.6 record
    assert t[ridx["adapt"]].max() < tenth <= t[ridx["test"]].min()
    saved = tmp_path / "p.json"
    protocol.save(saved)
    assert Protocol.load(saved).splits == protocol.splits


def test_patient_split_is_seeded_and_grouped() -> None:
    from ecgadapt.data.record import RecordRef

    refs = [RecordRef("ptbxl", str(i), Path(str(i)), subject=str(i // 3)) for i in range(300)]
    a = build_protocol("patient-split", "ptbxl", refs, seed=1)
    b = build_protocol("patient-split", "ptbxl", refs, seed=1)
    assert a.splits == b.splits
    assert abs(len(a.subjects("test")) - 20) <= 1 and abs(len(a.subjects("val")) - 10) <= 1
    _assert_no_leak(a)
