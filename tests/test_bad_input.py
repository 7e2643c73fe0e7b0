"""Every kind of bad input gets an error naming the file and the problem; prepare skips and reports."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgadapt.data import get_adapter
from ecgadapt.data.base import read_header, wfdb_record_path
from ecgadapt.errors import ConfigError, RecordError
from ecgadapt.population.training import rows_of
from ecgadapt.prepare import prepare_dataset

from conftest import synthetic_ecg, write_record


def _load(root: Path, name: str, dataset: str = "mitdb"):
    adapter = get_adapter(dataset)
    ref = next(r for r in adapter.records(root) if r.name == name)
    return adapter.load(ref)


def test_truncated_dat(mitdb_copy: Path) -> None:
    dat = mitdb_copy / "233.dat"
    dat.write_bytes(dat.read_bytes()[: 100_000])
    with pytest.raises(RecordError, match=r"233\.dat: truncated: 100000 bytes"):
        _load(mitdb_copy, "233")


def test_header_data_length_mismatch(mitdb_copy: Path) -> None:
    hea = mitdb_copy / "233.hea"
    lines = hea.read_text().splitlines()
    lines[0] = lines[0].replace("650000", "600000")  # header promises fewer samples than the .dat holds
    hea.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"233\.dat: header/data length mismatch"):
        _load(mitdb_copy, "233")


def test_missing_atr(mitdb_copy: Path) -> None:
    (mitdb_copy / "233.atr").unlink()
    with pytest.raises(RecordError, match=r"233\.atr: annotation file missing"):
        _load(mitdb_copy, "233")


def test_missing_header(mitdb_copy: Path) -> None:
    (mitdb_copy / "233.hea").unlink()
    with pytest.raises(RecordError, match=r"233\.hea: header file missing \(found only 233\.atr, 233\.dat: a WFDB"):
        _load(mitdb_copy, "233")
    # a bare MATLAB file (as CPSC 2019 ships its signals) given as the record: its missing header is named
    bare = mitdb_copy / "data_00014.mat"
    bare.write_bytes(b"MATLAB 5.0")
    with pytest.raises(RecordError, match=r"data_00014\.hea: header file missing \(found only data_00014\.mat"):
        read_header(wfdb_record_path(bare))


def test_unknown_label_code_cinc2017(tmp_path: Path) -> None:
    root = tmp_path / "training2017"
    x, _ = synthetic_ecg(12, 300)
    write_record(root, "A00001", x[:, None], 300, ["ECG"])
    (root / "REFERENCE.csv").write_text("A00001,X\n")
    with pytest.raises(RecordError, match=r"REFERENCE\.csv: unknown label code 'X' for record A00001"):
        _load(tmp_path, "A00001", "cinc2017")


def test_unknown_label_code_cinc2020(tmp_path: Path) -> None:
    x, _ = synthetic_ecg(10, 500)
    write_record(tmp_path, "Q9999", np.tile(x[:, None], (1, 2)), 500, ["I", "II"], comments=["Dx: 426783006,AFIB"])
    with pytest.raises(RecordError, match=r"Q9999\.hea: unknown label code\(s\) \['AFIB'\]"):
        _load(tmp_path, "Q9999", "cinc2020")


def test_an_empty_dx_line_is_no_diagnosis_not_all_negative(tmp_path: Path) -> None:
    x, _ = synthetic_ecg(10, 500)
    write_record(tmp_path, "E09999", np.tile(x[:, None], (1, 2)), 500, ["I", "II"], comments=["Dx: "])
    with pytest.raises(RecordError, match=r"E09999\.hea: its '#Dx:' line is empty"):
        _load(tmp_path, "E09999", "cinc2020")


def test_nan_lead(tmp_path: Path) -> None:
    x, _ = synthetic_ecg(12, 300)
    x[1000:1010] = np.nan  # wfdb writes the invalid-sample value, read back as NaN
    write_record(tmp_path / "training2017", "A00002", x[:, None], 300, ["ECG"])
    (tmp_path / "training2017" / "REFERENCE.csv").write_text("A00002,N\n")
    with pytest.raises(RecordError, match=r"A00002\.dat: lead ECG has 10 NaN samples"):
        _load(tmp_path, "A00002", "cinc2017")


def test_flat_line_lead(tmp_path: Path) -> None:
    x, _ = synthetic_ecg(10, 500)
    sig = np.stack([x, np.full_like(x, 0.5)], axis=1)
    write_record(tmp_path, "E99999", sig, 500, ["I", "II"], comments=["Dx: 426783006"])
    with pytest.raises(RecordError, match=r"E99999\.dat: lead II is a flat line"):
        _load(tmp_path, "E99999", "cinc2021")


def test_unexpected_sampling_rate(tmp_path: Path) -> None:
    x, _ = synthetic_ecg(20, 250)
    write_record(tmp_path, "300", np.tile(x[:, None], (1, 2)), 250, ["MLII", "V1"])
    with pytest.raises(RecordError, match=r"300\.hea: unexpected sampling rate 250 Hz \(this database has 360 Hz\)"):
        _load(tmp_path, "300")


def test_unreadable_mat(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "ref").mkdir()
    (tmp_path / "data" / "data_00001.mat").write_bytes(b"this is not a MATLAB file at all" * 10)
    with pytest.raises(RecordError, match=r"data_00001\.mat: unreadable \.mat"):
        _load(tmp_path, "data_00001", "cpsc2019")


def test_lead_missing_names_record(mitdb_copy: Path) -> None:
    rec = _load(mitdb_copy, "233")
    with pytest.raises(RecordError, match=r"lead 'V5' missing \(record has MLII, V1\)"):
        rec.select_leads(["V5"])


def test_missing_lead_is_a_flat_channel_only_when_the_settings_allow_it(mitdb_copy: Path) -> None:
    import json
    from dataclasses import replace

    from ecgadapt.errors import ConfigError
    from ecgadapt.prepare import PrepSettings, default_settings, record_arrays

    rec = _load(mitdb_copy, "233")
    strict = replace(default_settings("mitdb", "beats"), leads=("MLII", "V5"))
    with pytest.raises(RecordError, match=r"233: lead 'V5' missing"):
        record_arrays(rec, strict)
    arrays = record_arrays(rec, replace(strict, missing_leads="zero"))
    assert json.loads(str(arrays["__meta__"]))["zero_leads"] == ["V5"]
    assert np.all(arrays["X"][:, 1] == 0) and np.abs(arrays["X"][:, 0]).max() > 1
    with pytest.raises(RecordError, match=r"233: lead 'V5' missing"):  # never the first lead
        record_arrays(rec, replace(strict, leads=("V5", "MLII"), missing_leads="zero"))
    with pytest.raises(ConfigError, match="missing_leads='skip'"):
        PrepSettings(missing_leads="skip")


def test_header_quirk_fixture(tmp_path: Path) -> None:
    """Early-2020 Georgia headers name the record 'E00001.mat' on the record line: read it anyway."""
    x, _ = synthetic_ecg(10, 500)
    path = write_record(tmp_path, "E00001", np.tile(x[:, None], (1, 2)), 500, ["I", "II"], comments=["Dx: 426783006"])
    hea = path.with_suffix(".hea")
    lines = hea.read_text().splitlines()
    lines[0] = lines[0].replace("E00001 ", "E00001.mat ", 1)
    hea.write_text("\n".join(lines) + "\n")
    rec = _load(tmp_path, "E00001", "cinc2020")
    assert rec.signal.shape == (2, 5000) and rec.labels == ("NORM",)


def test_prepare_skips_bad_records_and_finishes(mitdb_copy: Path, tmp_path: Path) -> None:
    for ext in ("hea", "dat", "atr"):
        shutil.copy(mitdb_copy / f"233.{ext}", mitdb_copy / f"232.{ext}")
    (mitdb_copy / "232.hea").write_text((mitdb_copy / "232.hea").read_text().replace("233", "232"))
    (mitdb_copy / "232.dat").write_bytes((mitdb_copy / "232.dat").read_bytes()[:5000])  # truncated
    (mitdb_copy / "200.atr").unlink()  # annotations missing
    (mitdb_copy / "RECORDS").write_text("200\n232\n233\n")
    prepared, report = prepare_dataset("mitdb", mitdb_copy, cache_root=tmp_path / "cache", progress=False)
    assert prepared.record_names == ["233"] and report.prepared == 1
    errors = {f["record"]: f["error"] for f in report.failures}
    assert set(errors) == {"200", "232"}
    assert errors["200"].endswith("200.atr: annotation file missing (.atr)")
    assert "232.dat: truncated" in errors["232"]
    assert len(prepared) > 2000
    # asking the prepared beats for a record that failed names the user's folder and why, not only the cache folder
    with pytest.raises(ConfigError, match=rf"{mitdb_copy}: record\(s\) 200, 232 missing or unreadable \(200: .*200"
                                          r"\.atr: annotation file missing"):
        rows_of(prepared, ("200", "232", "233"))
    assert len(rows_of(prepared, ("233",))) == len(prepared)


def test_data_info_does_not_count_a_record_without_its_signal(mitdb_copy: Path) -> None:
    """Report D01 and the first-hour issue: a record whose signal file is missing or empty is a problem, and its
    header's duration is not counted."""
    from ecgadapt.data import get_adapter

    whole = get_adapter("mitdb").info(mitdb_copy)
    (mitdb_copy / "200.dat").write_bytes(b"")
    (mitdb_copy / "233.dat").unlink()
    info = get_adapter("mitdb").info(mitdb_copy)
    assert info.n_records == whole.n_records == 2 and whole.duration_s > 3500 and info.duration_s == 0
    assert any("200: signal file(s) 200.dat (empty): not counted in the duration" in p for p in info.problems)
    assert any("233: signal file(s) 233.dat (missing)" in p for p in info.problems)
