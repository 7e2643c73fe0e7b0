"""Cases of ../shared/reports/bad-inputs.md that ended in a traceback or a silently wrong answer, kept as tests (their
report id in each name): each is now a clear error naming the file or the parameter, exit code 2 from the command."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import wfdb
from typer.testing import CliRunner

from ecgadapt.cli import app
from ecgadapt.models.io import load_checkpoint, save_checkpoint
from ecgadapt.population.shipped import shipped_model_path
from tests.conftest import ANNOTATE_NO_REPORT

runner = CliRunner()


def _run(*args: str):
    result = runner.invoke(app, list(args))
    return result, " ".join(result.output.split())


def test_s05_a_record_too_short_for_one_beat_window(embedded: Path, tmp_path: Path) -> None:
    src = wfdb.rdrecord(str(embedded / "233"), sampto=360)
    ann = wfdb.rdann(str(embedded / "233"), "atr", sampto=360)
    wfdb.wrsamp("one", fs=360, units=src.units, sig_name=src.sig_name, p_signal=src.p_signal, fmt=["16", "16"],
                adc_gain=[200.0, 200.0], baseline=[0, 0], write_dir=str(tmp_path))
    wfdb.wrann("one", "atr", ann.sample, symbol=ann.symbol, write_dir=str(tmp_path))
    result, text = _run("annotate", "--record", str(tmp_path / "one"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "one: none of its" in text and "too short to classify a beat" in text
    assert not (tmp_path / "out").exists()


def test_m02_weights_of_another_shape(tmp_path: Path, embedded: Path) -> None:
    model, meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    state = torch.load(shipped_model_path("beatnet-mitdb-ds1"), weights_only=True)
    state["in_leads"] = 2  # the weights are a one-lead network's
    torch.save(state, tmp_path / "model.pt")
    result, text = _run("annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"), "--model",
                        str(tmp_path / "model.pt"))
    assert result.exit_code == 2 and "model.pt: the checkpoint's weights do not fit its network ('beatnet', 2 lead(s))" in text


def test_m08_a_checkpoint_without_preprocessing_settings(tmp_path: Path, embedded: Path) -> None:
    model, meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    save_checkpoint(model, tmp_path / "model.pt", **{k: v for k, v in meta.items() if k != "prep"})
    result, text = _run("annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"), "--model",
                        str(tmp_path / "model.pt"))
    assert result.exit_code == 2 and "model.pt: not a beat model: the checkpoint holds no preprocessing settings" in text
    save_checkpoint(model, tmp_path / "windows.pt", **{**meta, "prep": {**meta["prep"], "task": "windows"}})
    result, text = _run("annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"), "--model",
                        str(tmp_path / "windows.pt"))
    assert result.exit_code == 2 and "windows.pt: a model of windows, not of beats" in text


def test_o08_out_a_dangling_symlink(tmp_path: Path, embedded: Path) -> None:
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    result, text = _run("annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and f"out: cannot be an output folder: a link to {tmp_path / 'gone'}" in text


def test_o09_a_full_disk_is_said_plainly(tmp_path: Path, embedded: Path, monkeypatch) -> None:
    from ecgadapt.pipeline.writers import AnnotationWriter

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "beats.csv"))

    monkeypatch.setattr(AnnotationWriter, "write", full)
    result, text = _run("annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "beats.csv: No space left on device" in text and "Traceback" not in text


def test_o13_brackets_in_a_path_are_no_markup(tmp_path: Path, embedded: Path) -> None:
    folder = tmp_path / "a[" / "x]"
    folder.mkdir(parents=True)
    shutil.copy(embedded / "233.hea", folder / "233.hea")  # no .dat: an error naming the path, brackets and all
    result, text = _run("annotate", "--record", str(folder / "233"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "a[/x]/233.dat: signal file missing" in text


def test_p07_a_negative_seed_is_refused_before_any_work(tmp_path: Path, embedded: Path) -> None:
    result, text = _run("personalize", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"), "--seed", "-1")
    assert result.exit_code == 2 and "seed" in text and "greater than or equal to 0" in text
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("case", ["another record's signal", "random bytes"])
def test_h_a_signal_file_that_is_not_the_headers(embedded: Path, tmp_path: Path, case: str) -> None:
    """233's header over 232's signal (same size, same format), or over random bytes of the right size: the header's
    checksums catch both (they used to be read as 233, V burden 0)."""
    for ext in ("hea", "atr"):
        shutil.copy(embedded / f"233.{ext}", tmp_path / f"233.{ext}")
    if case == "random bytes":
        size = (embedded / "233.dat").stat().st_size
        (tmp_path / "233.dat").write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
    else:
        shutil.copy(embedded / "232.dat", tmp_path / "233.dat")
    result, text = _run("annotate", "--record", str(tmp_path / "233"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "233.dat: lead MLII: its samples do not match the header's checksum" in text


def test_h09_a_negative_gain_is_warned_about(embedded: Path, tmp_path: Path) -> None:
    for ext in ("hea", "dat", "atr"):
        shutil.copy(embedded / f"233.{ext}", tmp_path / f"233.{ext}")
    hea = tmp_path / "233.hea"
    lines = hea.read_text().splitlines()
    lines[1] = lines[1].replace(" 200 ", " -200 ", 1)  # MLII's gain
    hea.write_text("\n".join(lines) + "\n")
    from ecgadapt.pipeline.annotate import annotate_record

    info = annotate_record(shipped_model_path(), tmp_path / "233", tmp_path / "o", outputs=ANNOTATE_NO_REPORT).summary
    assert any(n.startswith("WARNING: lead(s) MLII (-200) have a negative gain") for n in info["notes"])


def test_a10_another_records_annotation_file(embedded: Path, tmp_path: Path) -> None:
    """200's beat annotations beside 233's signal (same length): an error naming the annotation file; 233's own pass."""
    for ext in ("hea", "dat"):
        shutil.copy(embedded / f"233.{ext}", tmp_path / f"233.{ext}")
    shutil.copy(embedded / "200.atr", tmp_path / "233.atr")
    result, text = _run("annotate", "--record", str(tmp_path / "233"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "233.atr: only" in text and "the annotation file of another record?" in text
    from ecgadapt.signal.quality import ANNOTATIONS_ON_QRS_MIN, annotations_on_qrs

    rec, ann = wfdb.rdrecord(str(embedded / "233"), channels=[0]), wfdb.rdann(str(embedded / "233"), "atr")
    assert annotations_on_qrs(rec.p_signal[:, 0], 360.0, ann.sample[np.isin(ann.symbol, ["N", "V", "A", "F"])]) > \
        ANNOTATIONS_ON_QRS_MIN


def test_e07_an_edf_header_counting_half_its_data_records(embedded: Path, tmp_path: Path) -> None:
    """The header's record count halved (edflib would read the first half without a word): an error naming the file.
    The file as written reads."""
    from ecgadapt.data.edf import read_edf_signal
    from tests.test_personalize import _write_edf

    rec = wfdb.rdrecord(str(embedded / "233"), physical=False)
    _write_edf(tmp_path / "233.edf", rec, 360 * 120)  # 2 minutes: 120 data records of 1 s
    assert read_edf_signal(tmp_path / "233.edf", [0])[0].shape == (1, 360 * 120)
    data = bytearray((tmp_path / "233.edf").read_bytes())
    assert int(data[236:244]) == 120
    data[236:244] = b"60      "
    (tmp_path / "233.edf").write_bytes(bytes(data))
    result, text = _run("annotate", "--record", str(tmp_path / "233.edf"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "233.edf: the header counts 60 data records, the file holds 120" in text


def test_a_beat_rate_no_heart_keeps_up_is_a_warning(embedded: Path, tmp_path: Path) -> None:
    """The plausibility layer's last line: a header rate within recorders' range but wrong for the signal (here
    233's 360-Hz samples declared as 60 Hz: 6 times slower, about 17 beats a minute) gives a WARNING note in the
    console, summary.json and the report, never a silent result."""
    from ecgadapt.pipeline.recording import implausible_beat_rate

    assert implausible_beat_rate(1800, 1800.0) is None and implausible_beat_rate(5, 30.0) is None
    assert "400 a minute on average" in implausible_beat_rate(4000, 600.0)
    for ext in ("dat", "atr"):
        shutil.copy(embedded / f"233.{ext}", tmp_path / f"233.{ext}")
    (tmp_path / "233.hea").write_text((embedded / "233.hea").read_text().replace("233 2 360 650000",
                                                                                   "233 2 60 650000"))
    result, text = _run("annotate", "--record", str(tmp_path / "233"), "--out", str(tmp_path / "out"),
                        "--beats", "detected")
    assert result.exit_code == 0 and "WARNING:" in text and "no heart keeps that up (20-300)" in text
    summary = (tmp_path / "out" / "summary.json").read_text()
    assert "no heart keeps that up" in summary and "no heart keeps that up" in (tmp_path / "out" / "report.html").read_text()


def test_one_beat_one_past_the_end_is_dropped_with_a_note(embedded: Path, tmp_path: Path) -> None:
    """A real PhysioNet Holter record's annotation file held one beat at exactly the signal's length (one past its
    last sample): that beat is dropped, said, and the patient kept (issue: first hour). Two such beats, or any
    further out, stay the strict error: the annotations of another record."""
    rec = wfdb.rdrecord(str(embedded / "233"), sampto=360 * 120, physical=False)
    ann = wfdb.rdann(str(embedded / "233"), "atr", sampto=360 * 120 - 1)
    n = rec.sig_len
    wfdb.wrsamp("233", fs=360, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal, fmt=["212", "212"],
                adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(tmp_path))
    wfdb.wrann("233", "atr", np.append(ann.sample, n), symbol=[*ann.symbol, "N"], write_dir=str(tmp_path))
    result, text = _run("annotate", "--record", str(tmp_path / "233"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, text
    assert f"233.atr: its last beat ('N' at sample {n}) lies one sample past the end of the {n}-sample signal: " \
           "dropped" in text
    wfdb.wrann("233", "atr", np.append(ann.sample, [n, n + 1]), symbol=[*ann.symbol, "N", "N"],
               write_dir=str(tmp_path))
    result, text = _run("annotate", "--record", str(tmp_path / "233"), "--out", str(tmp_path / "o2"))
    assert result.exit_code == 2 and "233.atr: annotation beyond the end of the signal (2 of" in text


def test_a_header_with_the_date_before_the_time_gets_its_start_time_right(tmp_path: Path, embedded: Path) -> None:
    """CinC 2020's headers write "15-May-2020 15:35:30" where WFDB writes the time first: wfdb took the day of the
    month for the clock (00:00:15). The Holter tables' clock times come from it (issue: first hour)."""
    from ecgadapt.data.recording import read_recording_header

    for ext in ("dat", "atr"):
        shutil.copy(embedded / f"233.{ext}", tmp_path / f"233.{ext}")
    text = (embedded / "233.hea").read_text()
    (tmp_path / "233.hea").write_text(text.replace("233 2 360 650000", "233 2 360 650000 15-May-2020 15:35:30"))
    head = read_recording_header(tmp_path / "233")
    assert str(head.start_time) == "15:35:30" and "the header gives its date before its time" in head.notes[0]
    (tmp_path / "233.hea").write_text(text.replace("233 2 360 650000", "233 2 360 650000 15:35:30 15/05/2020"))
    assert str(read_recording_header(tmp_path / "233").start_time) == "15:35:30"  # WFDB's order: as wfdb reads it
    assert read_recording_header(tmp_path / "233").notes == []
