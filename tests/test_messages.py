"""The report's misleading messages (../shared/reports/bad-inputs.md, section 10: 15 UNCLEAR cases), kept as tests:
each bad input is refused with a sentence that names the file and says what is wrong with it, not an internal
exception's text, and nothing is written."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ecgadapt.cli import app
from ecgadapt.population.shipped import shipped_model_path

runner = CliRunner()
LINES = ["233 2 360 650000", "233.dat 212 200 11 1024 1005 21057 0 MLII", "233.dat 212 200 11 1024 1026 -26370 0 V1"]


def _copy(embedded: Path, folder: Path, name: str = "233") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ext in ("hea", "dat", "atr"):
        shutil.copy(embedded / f"233.{ext}", folder / f"{name}.{ext}")
    return folder / name


def _header(record: Path, lines: list[str]) -> Path:
    record.with_suffix(".hea").write_text("\n".join(lines) + "\n")
    return record


def _h10(embedded: Path, tmp: Path) -> tuple[Path, str]:  # a NaN baseline: wfdb mis-split the line
    r = _header(_copy(embedded, tmp), [LINES[0], LINES[1].replace("200 11", "200(nan)/mV 11"), LINES[2]])
    return r, "233.hea: signal line 1 (MLII): gain '200(nan)/mV' is not GAIN(BASELINE)/UNITS with a whole-number"


def _h11(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _header(_copy(embedded, tmp), [LINES[0], LINES[1].replace(" 212 ", " 999 "), LINES[2]])
    return r, "233.hea: signal line 1 (MLII): format 999 is no WFDB signal format (known: 0, 8, 16,"


def _h13(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _header(_copy(embedded, tmp), [LINES[0], LINES[1].replace("233.dat", "../elsewhere/233.dat"), LINES[2]])
    return r, ("233.hea: signal line 1 (MLII): its signal file '../elsewhere/233.dat' is a path: a WFDB signal file "
               "lies beside its header")


def _h15(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _header(_copy(embedded, tmp), [LINES[0], LINES[1].replace("233.dat", "/etc/passwd"), LINES[2]])
    return r, "signal line 1 (MLII): its signal file '/etc/passwd' is a path"


def _h22(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _header(_copy(embedded, tmp), [LINES[0].replace(" 2 ", " 3 "), LINES[1], LINES[2]])
    return r, "233.hea: the record line says 3 signals and 2 signal lines follow"


def _h29(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _header(_copy(embedded, tmp), [LINES[0].replace(" 2 ", " 0 "), LINES[1], LINES[2]])
    return r, "233.hea: the record line says 0 signals and 2 signal lines follow"


def _h25(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _copy(embedded, tmp)
    r.with_suffix(".hea").unlink()
    r.with_suffix(".hea").mkdir()
    return r, "233.hea: a folder, not a header file"


def _o10(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _copy(embedded, tmp)
    r.with_suffix(".hea").unlink()
    os.symlink("233.hea", r.with_suffix(".hea"))
    return r, "233.hea: a link that leads to no file (to itself, or in a loop)"


def _o12(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _copy(embedded, tmp / "patient ü 心", "记录_ä")
    _header(r, [line.replace("233", "记录_ä") for line in LINES])
    return r, "记录_ä: a WFDB record name is ASCII letters, digits and _ (the header names '记录_ä'): rename"


def _a03(embedded: Path, tmp: Path) -> tuple[Path, str]:
    r = _copy(embedded, tmp)
    rng = np.random.default_rng(3)
    r.with_suffix(".atr").write_bytes(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes() + b"\x00\x00")
    return r, "233.atr: not a WFDB annotation file, or a damaged one"


def _p01(embedded: Path, tmp: Path) -> tuple[Path, str]:
    return _copy(embedded, tmp), "labelled minutes = nan: must be a number, 0 or more"


CASES: dict[str, Callable[[Path, Path], tuple[Path, str]]] = {
    "H10": _h10, "H11": _h11, "H13": _h13, "H15": _h15, "H22": _h22, "H29": _h29, "H25": _h25, "O10": _o10,
    "O12": _o12, "A03": _a03, "P01": _p01}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_gets_a_sentence_naming_the_file_and_the_problem(case: str, embedded: Path,
                                                                     tmp_path: Path) -> None:
    record, expected = CASES[case](embedded, tmp_path / "in")
    if case == "P01":
        args = ["personalize", "--record", str(record), "--out", str(tmp_path / "out"), "--labelled-minutes", "nan"]
    else:
        args = ["annotate", "--record", str(record), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and expected in text, text
    assert not (tmp_path / "out").exists()


def test_m07_an_unknown_network_names_the_checkpoint(tmp_path: Path, embedded: Path) -> None:
    state = torch.load(shipped_model_path("beatnet-mitdb-ds1"), weights_only=True)
    state["model"] = "nosuchnet"
    torch.save(state, tmp_path / "model.pt")
    result = runner.invoke(app, ["annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"),
                                 "--model", str(tmp_path / "model.pt")])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "model.pt: its network 'nosuchnet' is not a registered model" in text, text


def test_h32_a_record_too_large_for_memory_says_so(tmp_path: Path, embedded: Path, monkeypatch) -> None:
    """A MemoryError while reading (here forced: a 6-GB record under a memory cap in the report) is a sentence."""
    import ecgadapt.data.base as base

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 64.0 MiB for an array with shape (8388608, 1) and data type float64")

    monkeypatch.setattr(base.wfdb, "rdrecord", no_memory)
    result = runner.invoke(app, ["annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "o")])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "233.dat: too large to read into this machine's memory" in text, text
