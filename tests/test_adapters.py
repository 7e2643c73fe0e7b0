"""Contract test for every registered dataset adapter, on real records; published counts; header quirk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgadapt.data import AAMI_CLASSES, RecordRef, get_adapter, list_adapters
from ecgadapt.data.mitdb import PACED_RECORDS
from ecgadapt.errors import RecordError
from ecgadapt.prepare import prepare_dataset
from tests.conftest import write_record

# where each adapter's real sample lives inside the unpacked ../shared/data
SAMPLE_ROOTS = {
    "mitdb": "mitdb",
    "cinc2017": "challenge2017",
    "ptbxl": "ptbxl",
    "cinc2020": "samples/cinc2020_samples",
    "cinc2021": "samples/cinc2021_samples",
    "cpsc2021": "samples/cpsc2021_samples",
    "cpsc2019": "samples/cpsc2019_samples",
    "ptb": "samples/ptbdb_sample",
    "svdb": "svdb",
    "nstdb": "nstdb",
    "ludb": "ludb",
}


# databases absent from ../shared: their contract runs on a fixture folder in the database's own layout
FIXTURE_BUILT = ("ltafdb",)


def test_every_adapter_has_a_sample_root() -> None:
    assert sorted([*SAMPLE_ROOTS, *FIXTURE_BUILT]) == list_adapters()


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(SAMPLE_ROOTS))
def test_adapter_contract(name: str, shared_data: Path) -> None:
    check_contract(name, shared_data / SAMPLE_ROOTS[name])


def test_ltafdb_contract_on_fixture(ltafdb_root: Path) -> None:
    check_contract("ltafdb", ltafdb_root)


def check_contract(name: str, root: Path) -> None:
    adapter = get_adapter(name)
    refs = adapter.records(root)
    assert refs, "no records listed"
    assert len({r.name for r in refs}) == len(refs), "record names must be unique"
    # load a few records spread over the listing
    for ref in [refs[0], refs[len(refs) // 2], refs[-1]]:
        rec = adapter.load(ref)
        assert rec.database == name and rec.name == ref.name and rec.subject
        assert rec.signal.dtype == np.float32 and rec.signal.ndim == 2
        assert rec.signal.shape[0] == len(rec.leads) and rec.signal.shape[1] > rec.fs  # > 1 s
        assert np.isfinite(rec.signal).all()
        if adapter.expected_fs:
            assert rec.fs == adapter.expected_fs
        for label in rec.labels:
            assert not adapter.label_names or label in adapter.label_names or name == "cpsc2021"


def test_embedded_mitdb_records_read_with_wfdb(embedded: Path) -> None:
    adapter = get_adapter("mitdb")
    refs = adapter.records(embedded)
    assert [r.name for r in refs] == ["200", "213", "232", "233"]
    rec = adapter.load(refs[3])
    assert rec.leads == ["MLII", "V1"] and rec.fs == 360 and rec.n_samples == 650000
    aami = rec.annotations.aami()
    assert (aami == "V").sum() == 831  # record 233 has 831 PVCs (MIT-BIH directory)
    assert set(aami[aami != ""]) <= set(AAMI_CLASSES)


def test_a_long_record_read_in_pieces_is_the_record(embedded: Path, tmp_path: Path, monkeypatch) -> None:
    # a day-long Holter is read in pieces so that wfdb never holds all of it as int64 and float64 at once: the pieces
    # (at odd sample offsets, MIT-BIH's packed format 212, one channel or both) must join into the same signal
    import ecgadapt.data.base as base

    whole, fs, leads, _ = base.read_wfdb_signal(embedded / "233")
    monkeypatch.setattr(base, "READ_CHUNK_VALUES", 100_001)
    pieces, fs2, leads2, _ = base.read_wfdb_signal(embedded / "233")
    assert leads2 == leads == ["MLII", "V1"] and fs2 == fs and np.array_equal(pieces, whole)
    v1, _, names, _ = base.read_wfdb_signal(embedded / "233", channels=[1])
    assert names == ["V1"] and np.array_equal(v1[0], whole[1])


@pytest.mark.shared
def test_mitdb_counts_equal_published(shared_data: Path) -> None:
    info = get_adapter("mitdb").info(shared_data / "mitdb")
    assert info.n_records == 48
    assert info.n_subjects == 47  # records 201 and 202 come from one subject
    # ../shared/data/README.md: 112,647 annotations (N 75,052 · L 8,075 · R 7,259 · V 7,130 · / 7,028 · A 2,546)
    assert sum(info.class_counts.values()) == 112_647
    for sym, count in {"N": 75_052, "L": 8_075, "R": 7_259, "V": 7_130, "/": 7_028, "A": 2_546}.items():
        assert info.class_counts[sym] == count
    assert abs(info.duration_s - 48 * 650000 / 360) < 1


@pytest.mark.shared
def test_cinc2017_counts_match_reference(shared_data: Path) -> None:
    info = get_adapter("cinc2017").info(shared_data / "challenge2017")
    # published for all 8,528 records: N 5,050 · O 2,456 · A 738 · ~ 284; 7,000 are here (the rest kept aside)
    published = {"N": 5050, "O": 2456, "A": 738, "~": 284}
    assert info.n_records == 7000 == sum(info.class_counts.values())
    assert info.class_counts == {"A": 581, "N": 4185, "O": 2007, "~": 227}
    assert all(info.class_counts[k] <= published[k] for k in published)
    assert not info.problems


@pytest.mark.shared
def test_ptbxl_superclasses_and_folds(shared_data: Path) -> None:
    refs = get_adapter("ptbxl").records(shared_data / "ptbxl")
    assert len(refs) == 500 and len({r.subject for r in refs}) == 466
    first = next(r for r in refs if r.name == "1")
    assert first.labels == ("NORM",) and first.meta["strat_fold"] == 3


@pytest.mark.shared
def test_cinc2020_georgia_header_quirk_and_snomed(shared_data: Path) -> None:
    adapter = get_adapter("cinc2020")
    refs = {r.name: r for r in adapter.records(shared_data / "samples/cinc2020_samples")}
    rec = adapter.load(refs["E00009"])  # record line names 'E00009.mat'
    assert rec.signal.shape == (12, 5000) and rec.leads[3] == "AVR"
    assert refs["Q0001"].meta["dx"] == ["164867002", "427084000"] and refs["Q0001"].labels == ("STach",)


@pytest.mark.shared
def test_cpsc2021_af_intervals(shared_data: Path) -> None:
    adapter = get_adapter("cpsc2021")
    refs = {r.name: r for r in adapter.records(shared_data / "samples/cpsc2021_samples")}
    rec = adapter.load(refs["data_101_6"])
    assert rec.subject == "101" and rec.labels == ("AFp",)
    # the AF onset at 3132 and its end; before the onset the rhythm is normal (CPSC 2021 annotates AF episodes only)
    assert [(iv.start, iv.label) for iv in rec.rhythms[:3]] == [(0, "(N"), (3132, "(AFIB"), (5639, "(N")]
    assert sum(iv.end - iv.start for iv in rec.rhythms) == rec.n_samples
    normal = adapter.load(refs["data_21_7"])  # non-AF: no rhythm annotations, normal rhythm throughout
    assert normal.labels == ("N",) and [(iv.start, iv.end, iv.label) for iv in normal.rhythms] == [(0, 47201, "(N")]
    # `data info` counts the record classes from the header comments (it counted nothing before)
    info = adapter.info(shared_data / "samples/cpsc2021_samples")
    assert info.class_counts == {"AFf": 6, "AFp": 6, "N": 6} and info.n_records == 18 and not info.problems


def test_ltafdb_rhythm_windows(ltafdb_root: Path, tmp_path: Path) -> None:
    adapter = get_adapter("ltafdb")
    refs = adapter.records(ltafdb_root)
    assert [(r.name, r.subject) for r in refs] == [("00", "00"), ("01", "01")]
    rec = adapter.load(refs[0])
    assert rec.fs == 128.0 and rec.leads == ["ECG1", "ECG2"] and rec.n_samples == 128 * 360
    assert [(iv.start, iv.end, iv.label) for iv in rec.rhythms] == [(0, 15360, "(N"), (15360, 30720, "(AFIB"),
                                                                    (30720, 46080, "(N")]
    assert rec.annotations.beat_mask().sum() > 300  # the real beats came along
    assert np.array_equal(rec.select_leads(["#1"]), rec.signal[[1]])  # by position: Holter channel names vary
    with pytest.raises(RecordError, match=r"'#2' missing \(record has 2 channels\)"):
        rec.select_leads(["#2"])
    prepared, report = prepare_dataset("ltafdb", ltafdb_root, cache_root=tmp_path, progress=False)
    assert prepared.label_names == ("N", "AF", "O") and prepared.fs == 100.0
    first = np.asarray(prepared.record) == 0
    labels = np.asarray(prepared.y)[first]
    # 36 ten-second windows: 12 N, 12 AF, 12 N, in time order
    assert labels.tolist() == [0] * 12 + [1] * 12 + [0] * 12
    assert set(np.asarray(prepared.y)[~first].tolist()) == {1}
    with pytest.raises(RecordError, match="128"):  # a record at another rate is named, not silently misread
        write_record(tmp_path / "bad", "02", np.zeros((1000, 2)), 250.0)
        adapter.load(RecordRef("ltafdb", "02", tmp_path / "bad" / "02", subject="02"))


def test_paced_records_flagged(embedded: Path) -> None:
    assert PACED_RECORDS == ("102", "104", "107", "217")
