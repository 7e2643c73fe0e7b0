"""The command line, run in-process with typer's runner on the embedded records."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_demo_writes_summary_and_plots(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [r["record"] for r in summary["records"]] == ["200", "213", "232", "233"]
    assert summary["detector"]["sensitivity"] > 0.99
    for png in summary["plots"]:
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
