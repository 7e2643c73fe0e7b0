"""Output writers: chosen by the caller, registered by name, a new format one class; no stale output of an earlier run
left beside this run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgadapt.errors import ConfigError
from ecgadapt.pipeline import writers
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.pipeline.results import AnnotateResult
from ecgadapt.population.shipped import shipped_model_path


def test_the_caller_chooses_the_outputs_and_an_earlier_runs_others_are_removed(embedded: Path, tmp_path: Path) -> None:
    model = shipped_model_path("beatnet-mitdb-ds1")
    full = annotate_record(model, embedded / "233", tmp_path / "o")
    assert isinstance(full, AnnotateResult)
    written = {p.name for p in (tmp_path / "o").iterdir()}
    assert {"233.pred", "beats.csv", "hourly.csv", "runs.csv", "pauses.csv", "summary.json", "report.html",
            "figures"} <= written
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary == json.loads(json.dumps(full.summary))  # summary.json is the typed result's
    assert summary["counts"] == full.counts and summary["beats"] == len(full.beats) > 3000

    few = annotate_record(model, embedded / "233", tmp_path / "o", outputs=["beats", "summary"])
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["beats.csv", "summary.json"]
    assert few.counts == full.counts

    with pytest.raises(ConfigError, match="unknown output\\(s\\) model for annotate; known: annotations, beats"):
        annotate_record(model, embedded / "233", tmp_path / "x", outputs=["model"])
    assert not (tmp_path / "x").exists()  # refused before any work


def test_a_new_output_format_is_one_class_and_its_registration(embedded: Path, tmp_path: Path) -> None:
    class BurdenWriter(writers.OutputWriter):
        name = "burden-test"
        files = ("burden.txt",)

        def write(self, result):
            path = result.out / self.files[0]
            path.write_text(f"{result.holter.totals['V_per_100']:.2f}\n")
            return [path]

    writers.register_writer(BurdenWriter)
    try:
        assert "burden-test" in writers.list_writers("personalize")
        result = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "233", tmp_path / "o",
                                 outputs=["burden-test"])
        assert (tmp_path / "o" / "burden.txt").read_text() == f"{result.holter.totals['V_per_100']:.2f}\n"
        with pytest.raises(ConfigError, match="registered twice"):
            writers.register_writer(BurdenWriter)
    finally:
        del writers._WRITERS["burden-test"]


def test_a_run_killed_part_way_leaves_no_summary_and_its_temporary_files_go(embedded: Path, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """summary.json is the completion marker: an earlier run's goes first, this run's comes last (report O-kill)."""
    model, out = shipped_model_path("beatnet-mitdb-ds1"), tmp_path / "o"
    annotate_record(model, embedded / "233", out, outputs=["beats", "holter", "summary"])
    (out / ".beats.csv.x1y2.tmp").write_text("half a file")  # a write killed part-way
    (out / ".annotations.tmp").mkdir()
    (out / ".annotations.tmp" / "other.pred").write_text("")

    def killed(self, result):
        raise KeyboardInterrupt  # the run stops here, after the annotation file and beats.csv

    monkeypatch.setattr(writers.HolterWriter, "write", killed)
    with pytest.raises(KeyboardInterrupt):
        annotate_record(model, embedded / "233", out, outputs=["annotations", "beats", "holter", "summary"])
    assert not (out / "summary.json").exists()  # no summary describing files of two runs
    assert (out / "233.pred").is_file() and not (out / ".beats.csv.x1y2.tmp").exists()
    monkeypatch.undo()
    annotate_record(model, embedded / "233", out, outputs=["annotations", "beats", "holter", "summary"])
    assert (out / "summary.json").is_file() and not (out / ".annotations.tmp").exists()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_the_command_line_chooses_outputs_too(embedded: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ecgadapt.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "o"),
                                 "--model", "beatnet-mitdb-ds1", "--outputs", "beats,summary"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["beats.csv", "summary.json"]
    result = runner.invoke(app, ["annotate", "--record", str(embedded), "--out", str(tmp_path / "b"),
                                 "--outputs", "beats"])
    assert result.exit_code == 2 and "--outputs: a batch writes every output" in " ".join(result.output.split())
    result = runner.invoke(app, ["annotate", "--record", str(embedded / "233"), "--out", str(tmp_path / "x"),
                                 "--outputs", "model"])
    assert result.exit_code == 2 and "unknown output(s) model for annotate" in " ".join(result.output.split())
