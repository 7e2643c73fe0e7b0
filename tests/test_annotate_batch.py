"""``ecgadapt annotate`` over several recordings: a patient's further days, or a folder of recordings."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import wfdb
from typer.testing import CliRunner

from ecgadapt.cli import app
from ecgadapt.errors import ConfigError
from ecgadapt.pipeline.batch import annotate_records, batch_names, records_in
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.population.shipped import shipped_model_path
from conftest import write_record, pred_beats


@pytest.fixture()
def recordings(embedded: Path, tmp_path: Path) -> Path:
    """232 and 233 as they are; 213 as a multi-segment record (two segment headers beside its own); 200 with its
    signal file cut short; and an EDF file that is none."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    for name in ("232", "233", "200"):
        for ext in ("hea", "dat", "atr"):
            shutil.copy(embedded / f"{name}.{ext}", folder / f"{name}.{ext}")
    (folder / "200.dat").write_bytes((embedded / "200.dat").read_bytes()[:2000])
    rec = wfdb.rdrecord(str(embedded / "213"))
    half = rec.sig_len // 2
    for i, part in enumerate((rec.p_signal[:half], rec.p_signal[half:])):
        write_record(folder, f"213_{i + 1}", part, 360.0, leads=rec.sig_name)
    (folder / "213.hea").write_text(f"213/2 2 360 {rec.sig_len}\n213_1 {half}\n213_2 {rec.sig_len - half}\n")
    shutil.copy(embedded / "213.atr", folder / "213.atr")
    (folder / "holter.edf").write_bytes(b"0       not an EDF header")
    return folder


def test_a_folder_of_recordings_is_annotated_and_bad_ones_are_skipped(recordings: Path, embedded: Path,
                                                                      tmp_path: Path) -> None:
    found = records_in(recordings)
    assert [p.name for p in found] == ["200", "213", "232", "233", "holter.edf"]  # not the segments 213_1, 213_2
    out = tmp_path / "out"
    summary = annotate_records(shipped_model_path("beatnet-mitdb-ds1"), found, out, progress=False)
    status = {r["name"]: r["status"] for r in summary["records"]}
    assert status == {"200": "skipped", "213": "annotated", "232": "annotated", "233": "annotated",
                      "holter": "skipped"}
    reasons = {r["name"]: r["reason"] for r in summary["records"] if r["status"] == "skipped"}
    assert reasons["200"].startswith(f"{recordings / '200.dat'}: truncated: 2000 bytes")
    assert reasons["holter"].startswith(str(recordings / "holter.edf"))
    # each recording as the single-record command writes it, into a folder of its own
    alone = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "233", tmp_path / "alone").summary
    row = next(r for r in summary["records"] if r["name"] == "233")
    assert row["counts"] == alone["counts"] and row["beats"] == alone["beats"]
    assert row["v_per_100"] == round(100 * alone["counts"]["V"] / alone["beats"], 2) and row["v_per_100"] > 15
    assert (out / "233" / "beats.csv").read_text() == (tmp_path / "alone" / "beats.csv").read_text()
    assert pred_beats(out / "233" / "233").sample.size == alone["beats"]
    # with its Holter summary: hour by hour, the runs of ectopic beats, and a report
    assert (out / "233" / "runs.csv").read_text() == (tmp_path / "alone" / "runs.csv").read_text()
    assert pd.read_csv(out / "233" / "hourly.csv").V.sum() == alone["counts"]["V"]
    assert alone["holter"]["V_per_100"] == row["v_per_100"]
    assert (row["v_runs"], row["pauses"], row["longest_pause_s"], row["sdnn_ms"]) == (
        alone["holter"]["V_runs"], alone["holter"]["pauses"], alone["holter"]["longest_pause_s"],
        alone["holter"]["hrv"]["sdnn_ms"])
    assert next(r for r in summary["records"] if r["name"] == "232")["pauses"] == 116  # 232's sinus pauses
    assert "Holter summary (predicted classes)" in (out / "233" / "report.html").read_text()
    segmented = next(r for r in summary["records"] if r["name"] == "213")
    assert segmented["counts"] == annotate_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "213", tmp_path / "a213").summary["counts"]
    assert not (out / "200").exists()  # a skipped recording leaves no folder behind
    # what the result was made from (resume compares it): a multi-segment record's segments too
    assert json.loads((out / "213" / "annotate.json").read_text())["inputs"].keys() == {
        "213.hea", "213_1.hea", "213_1.dat", "213_2.hea", "213_2.dat", "213.atr"}
    assert json.loads((out / "annotate_summary.json").read_text())["skipped"] == 2
    report = (out / "report.html").read_text()
    assert "3 recording(s) annotated, 2 skipped" in report and "truncated: 2000 bytes" in report
    assert "| V runs | pauses | longest pause (s) | SDNN (ms) | AF burden (%) |" in (out / "report.md").read_text()
    row = next(r for r in summary["records"] if r["name"] == "233")  # the rhythm step ran on every recording
    assert row["af_burden_percent"] == json.loads((out / "233" / "summary.json").read_text())["rhythm"][
        "af_burden_percent"]
    assert 'href="233/report.html"' in report and (out / "233" / "report.html").is_file()
    assert (out / "figures" / "burden.png").stat().st_size > 1000

    # a rerun resumes: what was done is not done again, also with a copy of the same model under another name
    written = (out / "233" / "beats.csv").stat().st_mtime_ns
    same_model = shutil.copy(shipped_model_path("beatnet-mitdb-ds1"), tmp_path / "same.pt")
    again = annotate_records(same_model, found, out, progress=False)
    assert [r["status"] for r in again["records"]] == ["skipped", "done earlier", "done earlier", "done earlier",
                                                        "skipped"]
    assert (out / "233" / "beats.csv").stat().st_mtime_ns == written
    assert next(r for r in again["records"] if r["name"] == "233")["counts"] == alone["counts"]
    # a recording with an output missing (deleted, or one an older version did not write) is annotated anew
    (out / "232" / "report.html").unlink()
    assert [r["status"] for r in annotate_records(same_model, found[2:4], out, progress=False)["records"]] == [
        "annotated", "done earlier"]
    assert (out / "232" / "report.html").is_file()
    # a recording whose files changed is another result: annotated anew; a file touched but the same is not
    os.utime(recordings / "233.dat")
    header = recordings / "232.hea"
    header.write_text(header.read_text() + "# lead placement checked\n")
    assert [r["status"] for r in annotate_records(same_model, found[2:4], out, progress=False)["records"]] == [
        "annotated", "done earlier"]
    assert json.loads((out / "232" / "annotate.json").read_text())["inputs"].keys() == {"232.hea", "232.dat", "232.atr"}
    # other options (here: the beats' source) are another result: annotated anew
    detected = annotate_records(same_model, found[2:4], out, beats="detected", progress=False)
    assert [r["status"] for r in detected["records"]] == ["annotated", "annotated"]
    assert all(r["beat_source"] == "detected" for r in detected["records"])


def test_an_unforeseen_failure_on_one_recording_skips_it_and_the_batch_goes_on(recordings: Path, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_on_232(model_path, path, folder, **options):  # a fault of ours that only one recording brings out
        if Path(path).name == "232":
            raise IndexError("index 3 is out of bounds for axis 0 with size 3")
        return annotate_record(model_path, path, folder, **options)

    out = tmp_path / "out"
    annotate_records(shipped_model_path("beatnet-mitdb-ds1"), [recordings / "232"], out, progress=False)  # a result from before
    monkeypatch.setattr("ecgadapt.pipeline.batch.annotate_record", failing_on_232)
    (recordings / "232.hea").write_text((recordings / "232.hea").read_text() + "# changed\n")
    summary = annotate_records(shipped_model_path("beatnet-mitdb-ds1"), [recordings / "232", recordings / "233"], out, progress=False)
    assert [r["status"] for r in summary["records"]] == ["skipped", "annotated"]
    failed = summary["records"][0]
    assert failed["reason"] == ("unexpected error, please report it (traceback in annotate_summary.json): "
                                "IndexError: index 3 is out of bounds for axis 0 with size 3")
    assert "failing_on_232" in failed["traceback"]
    saved = json.loads((out / "annotate_summary.json").read_text())["records"][0]
    assert saved["traceback"] == failed["traceback"]
    # the result from before is no longer marked complete: the next run annotates it anew
    assert not (out / "232" / "annotate.json").exists()
    monkeypatch.undo()
    again = annotate_records(shipped_model_path("beatnet-mitdb-ds1"), [recordings / "232", recordings / "233"], out, progress=False)
    assert [r["status"] for r in again["records"]] == ["annotated", "done earlier"]


def test_bad_batches_are_refused_before_any_work(recordings: Path, embedded: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty: no recording in it or below it \(no WFDB header, nor a file of EDF/BDF "
                                          r"\(\.edf, \.bdf\), ISHNE Holter \(\.ecg\)\)"):
        records_in(tmp_path / "empty")
    with pytest.raises(ConfigError, match="233: not a folder"):
        records_in(recordings / "233")
    with pytest.raises(ConfigError, match="would share an output folder: 233"):
        annotate_records(shipped_model_path("beatnet-mitdb-ds1"), [embedded / "233", recordings / "233"], tmp_path / "o")
    assert not (tmp_path / "o").exists()
    (recordings / "RECORDS").write_text("232\n233\n")  # a PhysioNet folder lists its records
    assert [p.name for p in records_in(recordings)] == ["232", "233", "holter.edf"]


def test_a_folder_lists_its_recordings_with_numbers_in_order(embedded: Path, tmp_path: Path) -> None:
    # CPSC 2021's names (data_8_2 ... data_84_1) and a clinic's (patient2, patient10): numbers by value, not by digit
    names = ["data_84_1", "data_8_2", "data_21_7", "data_8_10", "patient10", "patient2", "Patient1"]
    for name in names:
        shutil.copy(embedded / "233.hea", tmp_path / f"{name}.hea")  # only headers: listing reads no signal
    assert [p.name for p in records_in(tmp_path)] == ["Patient1", "data_8_2", "data_8_10", "data_21_7", "data_84_1",
                                                      "patient2", "patient10"]


def test_the_command_annotates_a_folder(recordings: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["annotate", "--record", str(recordings), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "skipped 200:" in text and \
        "233 (annotated): 3077 beats (annotated R peaks), V 26.55 and S 0.03 per 100 beats" in text
    assert "3 of 5 recordings annotated" in text
    # several records named one by one
    result = CliRunner().invoke(app, ["annotate", "--record", str(recordings / "232"), "--record",
                                      str(recordings / "233"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0 and "2 of 2 recordings annotated" in " ".join(result.output.split())
    assert "(done earlier)" in result.output


def test_recordings_in_sub_folders_keep_their_path(embedded: Path, tmp_path: Path) -> None:
    """PhysioNet keeps some databases in a folder per patient (PTB: patient001/s0010_re): a folder's recordings are
    searched below it, and each is written to OUT/<its path>, so that two patients' recordings of one name do not
    clash."""
    folder = tmp_path / "holters"
    for patient, name in (("patient1", "233"), ("patient2", "233"), ("patient2/day2", "232")):
        (folder / patient).mkdir(parents=True, exist_ok=True)
        for ext in ("hea", "dat", "atr"):
            shutil.copy(embedded / f"{name}.{ext}", folder / patient / f"{name}.{ext}")
    (folder / ".cache").mkdir()  # hidden: not searched
    shutil.copy(embedded / "233.hea", folder / ".cache" / "233.hea")
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # a link back up: not followed
    found = records_in(folder)
    assert batch_names(found, folder) == ["patient1/233", "patient2/233", "patient2/day2/232"]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["annotate", "--record", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 of 3 recordings annotated" in " ".join(result.output.split())
    for name in ("patient1/233", "patient2/233"):
        assert (out / name / "233.pred").is_file()
        assert pred_beats(out / name / "233").sample.size == 3077
    summary = json.loads((out / "annotate_summary.json").read_text())
    assert [r["name"] for r in summary["records"]] == ["patient1/233", "patient2/233", "patient2/day2/232"]
    assert 'href="patient2/day2/232/report.html"' in (out / "report.html").read_text()
    # a PhysioNet RECORDS file lists the database's records, in sub-folders too, and nothing else is searched
    (folder / "RECORDS").write_text("patient2/day2/232\n")
    assert batch_names(records_in(folder), folder) == ["patient2/day2/232"]
    (folder / "RECORDS").write_text("patient1/\n")  # an entry ending in / is a folder to search
    assert batch_names(records_in(folder), folder) == ["patient1/233"]
    (folder / "RECORDS").write_text("../233\n")
    with pytest.raises(ConfigError, match=r"RECORDS: entry '\.\./233' lies outside"):
        records_in(folder)


def test_a_real_physionet_folder_per_patient(shared_data: Path) -> None:
    """The real PTB layout (patient001/s0010_re, no RECORDS in the sample) and CinC 2020's folder per source."""
    ptb = shared_data / "samples" / "ptbdb_sample"
    assert batch_names(records_in(ptb), ptb) == ["patient001/s0010_re"]
    cinc2020 = shared_data / "samples" / "cinc2020_samples"
    names = batch_names(records_in(cinc2020), cinc2020)
    assert len(names) == 38 and "ptbxl_HR00001-00010/HR00001" in names and "mixed/E00009" in names
    mitdb = shared_data / "mitdb"  # its RECORDS lists the 48 records, not the x_mitdb excerpts below it
    assert len(records_in(mitdb)) == 48


def test_a_batch_in_which_nothing_was_annotated_exits_non_zero(embedded: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("232", "233"):
        for ext in ("hea", "dat", "atr"):
            shutil.copy(embedded / f"{name}.{ext}", folder / f"{name}.{ext}")
        (folder / f"{name}.dat").write_bytes((folder / f"{name}.dat").read_bytes()[:1000])  # both cut short
    result = CliRunner().invoke(app, ["annotate", "--record", str(folder), "--out", str(tmp_path / "o")])
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "0 of 2 recordings annotated, 2 skipped" in text and "no recording could be annotated" in text


def test_brackets_in_a_batch_path_are_no_markup(embedded: Path, tmp_path: Path) -> None:
    folder = tmp_path / "a[" / "x]"  # the path holds "a[/x]", a closing tag to rich
    folder.mkdir(parents=True)
    for ext in ("hea", "dat", "atr"):
        shutil.copy(embedded / f"232.{ext}", folder / f"232.{ext}")
    (folder / "[red]bad.hea").write_text("not a header\n")
    result = CliRunner().invoke(app, ["annotate", "--record", str(folder), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1 of 2 recordings annotated, 1 skipped" in text and "skipped [red]bad:" in text
    assert (tmp_path / "o" / "annotate_summary.json").is_file()


def test_annotating_with_a_model_personalized_for_another_recording_says_so(embedded: Path, tmp_path: Path) -> None:
    from ecgadapt.models.io import save_checkpoint
    from ecgadapt.pipeline.recording import load_beat_model

    model, meta = load_beat_model(shipped_model_path())
    save_checkpoint(model, tmp_path / "personalized.pt", **{**meta, "personalized_for": "/data/patients/233"})
    result = annotate_record(tmp_path / "personalized.pt", embedded / "200", tmp_path / "a", outputs=("summary",),
                             rhythm=False)
    assert any("personalized for recording 233, not 200" in n for n in result.notes)
    result = annotate_record(tmp_path / "personalized.pt", embedded / "233", tmp_path / "b", outputs=("summary",),
                             rhythm=False)
    assert not any("personalized for recording" in n for n in result.notes)
