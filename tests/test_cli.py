"""The command line, run in-process with typer's runner on the embedded records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import pred_beats
from typer.testing import CliRunner

from ecgadapt.cli import app

runner = CliRunner()


def test_data_list() -> None:
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0
    for name in ("mitdb", "cinc2017", "ptbxl", "cinc2021", "cpsc2021", "ptb"):
        assert name in result.output


def test_data_info_embedded(embedded: Path) -> None:
    result = runner.invoke(app, ["data", "info", "mitdb", str(embedded), "--json"])
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info["records"] == 4 and info["class_counts"]["V"] == 1877  # 200: 826, 213: 220, 233: 831


def test_data_prepare_with_protocol(embedded: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "prepare", "mitdb", str(embedded), "--protocol", "mitdb-patient-specific",
                                 "--cache", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "mitdb-patient-specific/adapt: 1,796 items, 4 subjects" in result.output
    saved = list(tmp_path.glob("mitdb-*/protocols/mitdb-patient-specific.npz"))
    assert len(saved) == 1


def test_bad_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "info", "ptbxl", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "nope: not a folder" in result.output


def test_demo_is_the_personalize_command_on_an_embedded_record(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["method"] == "finetune" and summary["record"].endswith("233")
    assert "233.pred" in result.output
    # the guard keeps the population model on 233: said plainly, one row, the rejected model's held-out case beside
    assert summary["kept"] == "population"
    assert "population (kept)" in result.output and "the personalization was rejected" in result.output
    assert "personalized: accuracy" not in result.output.replace("\n", " ")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "population (kept: the personalization was rejected)" in report and "| personalized |" not in report
    for png in (tmp_path / "out" / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.shared
def test_personalize_a_cpsc2021_record_of_another_database(shared_data: Path, tmp_path: Path) -> None:
    # a real CPSC 2021 record: 200 Hz, leads I and II, 8.7 min, beat labels all N. The MLII model reads lead II,
    # resampled to 360 Hz, and says both
    record = shared_data / "samples" / "cpsc2021_samples" / "data_84_1"
    result = runner.invoke(app, ["personalize", "--record", str(record), "--out", str(tmp_path / "o"),
                                 "--labelled-minutes", "3", "--method", "l2sp", "--lead", "II"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert "lead II used in place of the model's MLII" in summary["notes"]
    assert any("resampled to the model's 360 Hz" in n for n in summary["notes"])
    # no S beat in the reference and none predicted: SVEB F1 is undefined and printed as such, never "nan"
    rest = summary["scores"]["rest"]["personalized"]
    assert rest["S"]["support"] == 0 and "nan" not in result.output.lower()
    if rest["S"]["f1"] is None:  # undefined: null in the JSON summary
        assert "SVEB F1 –" in result.output
    # the personalized model annotates the patient's record on the lead it was personalized on, and says so
    model = str(tmp_path / "o" / "personalized.pt")
    result = runner.invoke(app, ["annotate", "--record", str(record), "--model", model, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "lead II: the lead this model was personalized on" in result.output and "resampled" in result.output
    assert len(pred_beats(tmp_path / "a" / "data_84_1").sample) == summary["beats"]
    # a lead the record lacks: named, and no empty output folder left behind
    result = runner.invoke(app, ["annotate", "--record", str(record), "--model", model, "--lead", "V1",
                                 "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "lead 'V1' missing (record has I, II)" in result.output
    assert not (tmp_path / "b").exists()


@pytest.mark.shared
def test_a_paced_patient_is_told_that_q_beats_are_not_scored(shared_data: Path, tmp_path: Path) -> None:
    # MIT-BIH 102: paced (Q) beats nearly throughout, leads V5 and V2. AAMI metrics leave Q beats out, so the figures
    # after the labelled minutes rest on 4 beats; the user must be told, and how each model labels the paced beats
    result = runner.invoke(app, ["personalize", "--record", str(shared_data / "mitdb" / "102"), "--lead", "V5",
                                 "--method", "finetune-head", "--param", "steps=20", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["scores"]["rest"]["personalized"]["beats"] == 4
    note = next(n for n in summary["notes"] if "reference Q beats" in n)
    assert note.startswith("1816 reference Q beats (paced or unclassifiable) after the labelled minutes are left out")
    assert "(4 N/S/V/F beats after the labelled minutes)" in " ".join(result.output.split())


def test_an_annotation_file_of_another_extension_is_named_by_annotation(embedded: Path, tmp_path: Path) -> None:
    # Holter databases name their beat annotations otherwise (.ari, .ecg, .qrs): the same file as .ari here
    for ext in ("hea", "dat"):
        shutil.copy(embedded / f"233.{ext}", tmp_path / f"233.{ext}")
    shutil.copy(embedded / "233.atr", tmp_path / "233.ari")
    args = ["personalize", "--record", str(tmp_path / "233"), "--method", "finetune-head", "--param", "steps=5"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no annotation file (233.atr), so the 5 labelled minutes have no labels" in \
        " ".join(result.output.split())
    result = runner.invoke(app, [*args, "--annotation", "ari", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["beat_source"] == "annotated" and summary["scores"]["rest"]["population"]["beats"] > 2500
    result = runner.invoke(app, ["annotate", "--record", str(tmp_path / "233"), "--annotation", "ari", "--model",
                                 str(tmp_path / "o" / "personalized.pt"), "--out", str(tmp_path / "a")])
    assert result.exit_code == 0 and "(annotated R peaks)" in result.output


def test_personalize_command_line_errors_are_clear(tmp_path: Path, embedded: Path) -> None:
    result = runner.invoke(app, ["personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"),
                                 "--method", "magic"])
    assert result.exit_code == 2 and "unknown personalization method 'magic'" in result.output
    result = runner.invoke(app, ["personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"),
                                 "--method", "coral"])
    assert result.exit_code == 2 and "needs population beats: pass --population" in result.output
    # a folder without the model's population records: named, with the records it lacks
    result = runner.invoke(app, ["personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"),
                                 "--method", "coral", "--population", str(embedded)])
    assert result.exit_code == 2 and f"{embedded}: the population beats are those of the 22 records" in result.output
    assert "22 of them are not there" in result.output and not (tmp_path / "o").exists()
    result = runner.invoke(app, ["personalize", "--record", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "nope" in result.output
    result = runner.invoke(app, ["personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"),
                                 "--labelled-start", "28"])
    assert result.exit_code == 2 and "shorter than the 5 labelled minutes asked for from minute 28" in \
        " ".join(result.output.split())


def test_the_labelled_minutes_start_where_the_user_says(tmp_path: Path, embedded: Path) -> None:
    result = runner.invoke(app, ["personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"),
                                 "--method", "none", "--labelled-start", "20", "--labelled-minutes", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["labelled_window"] == "3 minutes from minute 20" and summary["labelled_start"] == 20
    assert "N/S/V/F beats outside the labelled minutes" in " ".join(result.output.split())


def test_population_list_names_the_shipped_models_and_their_cards(tmp_path: Path, monkeypatch) -> None:
    import ecgadapt.population.shipped as population

    result = runner.invoke(app, ["population", "list"])
    assert result.exit_code == 0, result.output
    assert "beatnet-mitdb-svdb (default)" in result.output and "MLII" in result.output
    text = " ".join(result.output.split())
    assert "beatnet-mitdb-ds1: trained on 18 MIT-BIH records, validated on other patients (106, 119, 207, 223)" in text
    assert ("beatnet-mitdb-svdb: trained on 18 MIT-BIH records + 42 svdb + 15 cpsc2021, validated on other patients "
            "(106, 119, 207, 223, 10 svdb patients, 3 cpsc2021 patients)") in text
    rows = json.loads(runner.invoke(app, ["population", "list", "--json"]).output)
    assert [r["name"] for r in rows] == population.shipped_models() and rows[0]["fs"] == 360.0
    assert len(rows[0]["train_records"]) == 18 and not set(rows[0]["train_records"]) & set(rows[0]["val_records"])
    assert abs(rows[0]["val_macro_f1"] - 0.4175) < 1e-4  # the card's validation figure (its .md says 0.418)
    assert [r["default"] for r in rows] == [False, True]
    assert rows[1]["other_databases"]["svdb"]["val_records"][:2] == ["812", "849"]
    # a shipped checkpoint whose card is damaged: the error names the card
    (tmp_path / "mine.pt").write_bytes(b"")
    (tmp_path / "mine.json").write_text("{not json")
    monkeypatch.setattr(population, "_shipped_dir", lambda: tmp_path)
    result = runner.invoke(app, ["population", "list"])
    assert result.exit_code == 2 and f"{tmp_path / 'mine.json'}: the model card of shipped model 'mine'" in " ".join(
        result.output.split())


def test_population_train_refuses_a_folder_without_ds1(embedded: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["population", "train", "--data", str(embedded), "--out", str(tmp_path / "pop.pt")])
    assert result.exit_code == 2 and f"{embedded}: 22 DS1 record(s) are not there (101, 106," in result.output
    assert not (tmp_path / "pop.pt").exists()


def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(embedded: Path, tmp_path: Path) -> None:
    # the population model's path under a file: refused before the (minutes of) training, not by a traceback after
    (tmp_path / "afile").write_text("kept")
    for args in (["population", "train", "--data", str(embedded), "--out", str(tmp_path / "afile" / "pop.pt")],
                 ["data", "download", "mitdb", str(tmp_path / "afile"), "--base-url", "http://127.0.0.1:9/"],
                 ["data", "prepare", "mitdb", str(embedded), "--cache", str(tmp_path / "afile")],
                 ["data", "peaks", "mitdb", str(embedded), "--out", str(tmp_path / "afile" / "peaks.json")],
                 ["annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "afile")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert f"{tmp_path / 'afile'}: cannot be an output folder: a file of that name exists" in result.output, args
    result = runner.invoke(app, ["population", "train", "--data", str(embedded), "--out", str(tmp_path)])
    assert result.exit_code == 2 and f"{tmp_path}: cannot be an output file: a folder of that name exists" in result.output
    assert (tmp_path / "afile").read_text() == "kept"


def test_pretrain_diffusion_command_on_embedded_beats(tmp_path: Path, embedded: Path) -> None:
    result = runner.invoke(app, ["pretrain", "diffusion", "--dataset", "mitdb", "--data", str(embedded), "--out",
                                 str(tmp_path / "d"), "--epochs", "1", "--base", "8", "--max-items", "64"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "unet.pt").is_file() and (tmp_path / "d" / "history.json").is_file()


@pytest.mark.shared
def test_population_train_names_bad_pretraining_data(shared_data: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["population", "train", "--data", str(shared_data / "mitdb"), "--out",
                                 str(tmp_path / "pop.pt"), "--pretrain", "mitdb:" + str(shared_data / "mitdb")])
    assert result.exit_code == 2 and "mitdb does not label each recording with one rhythm" in result.output
    assert not (tmp_path / "pop.pt").exists()


def test_the_console_gives_the_holter_headline(embedded: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["annotate", "--record", str(embedded / "232"), "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # 232: sinus bradycardia with pauses up to 5.9 s
    assert "Holter: heart rate 62.3 bpm" in text and "116 pause(s) of 2 s or more, the longest 5.87 s" in text


def test_data_peaks_on_another_lead_and_with_neurokit2_as_it_ships(embedded: Path, tmp_path: Path) -> None:
    # the embedded records' second lead is V1, whose complexes point down: neurokit2 as it ships misses some of them
    scores = {}
    for method in ("neurokit", "neurokit-upright"):
        out = tmp_path / f"{method}.json"
        result = runner.invoke(app, ["data", "peaks", "mitdb", str(embedded), "--lead", "1", "--method", method,
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        scores[method] = json.loads(out.read_text())
        assert scores[method]["method"] == method and scores[method]["lead"] == 1
    assert scores["neurokit"]["sensitivity"] > 0.97 and scores["neurokit-upright"]["sensitivity"] < 0.94
    result = runner.invoke(app, ["data", "peaks", "mitdb", str(embedded), "--method", "guess"])
    assert result.exit_code == 2 and "--method 'guess'; allowed: neurokit, neurokit-upright" in result.output
    result = runner.invoke(app, ["data", "peaks", "mitdb", str(embedded), "--lead", "2"])
    assert "skipped" in result.output and "200.hea" not in result.output
    assert f"{embedded / '200'}: no lead number 2 (it has 2: MLII, V1)" in " ".join(result.output.split())


def test_version() -> None:
    from ecgadapt import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"ecgadapt {__version__}"
