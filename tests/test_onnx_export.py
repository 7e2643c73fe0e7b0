"""ONNX export: the exported beat and rhythm models give onnxruntime the probabilities torch gives, on real records,
and say in their metadata how to feed them; bad input is a clear error naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ecgadapt.cli import app
from ecgadapt.errors import ConfigError
from ecgadapt.personalize.base import predict_beats
from ecgadapt.pipeline.recording import load_beat_model, load_patient
from ecgadapt.population.shipped import shipped_model_path

pytest.importorskip("onnxruntime")
from ecgadapt.models.onnx_export import export_onnx, onnx_metadata, onnx_probabilities  # noqa: E402

runner = CliRunner()


def test_the_beat_model_runs_the_same_in_onnxruntime(embedded: Path, tmp_path: Path) -> None:
    path = export_onnx(shipped_model_path(), tmp_path / "beats.onnx")
    meta = onnx_metadata(path)
    assert meta["task"] == "beats" and meta["label_names"] == ["N", "S", "V", "F", "Q"]
    assert meta["samples"] == 252 and meta["rr_features"] == ["pre_rr", "post_rr", "local_rr", "average_rr"]
    model, model_meta = load_beat_model(shipped_model_path())
    beats = load_patient(embedded / "233", model_meta).beats
    torch_probs = predict_beats(model, beats)
    onnx_probs = onnx_probabilities(path, beats.X, beats.rr[:, :len(meta["rr_features"])])
    assert (torch_probs.argmax(1) == onnx_probs.argmax(1)).all()  # the classes of all 3,077 beats
    assert np.abs(torch_probs - onnx_probs).max() < 1e-4


def test_the_rhythm_model_runs_the_same_in_onnxruntime(embedded: Path, tmp_path: Path) -> None:
    from ecgadapt.data.recording import read_recording, read_recording_header
    from ecgadapt.rhythm.model import load_rhythm_model, resolve_rhythm_model
    from ecgadapt.rhythm.personalize import rhythm_windows

    result = runner.invoke(app, ["export", "resnet1d18-rhythm", "--onnx", str(tmp_path / "rhythm.onnx")])
    assert result.exit_code == 0, result.output
    assert "rhythm model, 1 lead(s) x 1000 samples at 100.0 Hz -> N, AF, O, ~" in result.output.replace("\n", " ")
    model, meta = load_rhythm_model(resolve_rhythm_model())
    head = read_recording_header(embedded / "232")
    windows = rhythm_windows(read_recording(head, [0]).record, head.leads[0], meta)
    torch_probs = predict_beats(model, windows)
    onnx_probs = onnx_probabilities(tmp_path / "rhythm.onnx", windows.X)
    assert (torch_probs.argmax(1) == onnx_probs.argmax(1)).all()
    assert np.abs(torch_probs - onnx_probs).max() < 1e-4


def test_export_refuses_what_it_cannot_export(tmp_path: Path) -> None:
    (tmp_path / "notes.pt").write_text("not a model")
    result = runner.invoke(app, ["export", str(tmp_path / "notes.pt"), "--onnx", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2 and "notes.pt: unreadable checkpoint" in result.output
    (tmp_path / "other.onnx").write_bytes(b"\x08\x07")  # a protobuf, but no ecgadapt metadata
    with pytest.raises(ConfigError, match="other.onnx"):
        onnx_metadata(tmp_path / "other.onnx")


def test_annotate_runs_an_exported_model_in_onnxruntime(embedded: Path, tmp_path: Path) -> None:
    from ecgadapt.pipeline.annotate import annotate_record

    path = export_onnx(shipped_model_path(), tmp_path / "beats.onnx")
    by_onnx = annotate_record(path, embedded / "233", tmp_path / "onnx", outputs=("beats", "summary"), rhythm=False)
    by_torch = annotate_record(shipped_model_path(), embedded / "233", tmp_path / "torch", outputs=("beats", "summary"),
                               rhythm=False)
    assert (by_onnx.beats.predicted == by_torch.beats.predicted).all() and by_onnx.counts == by_torch.counts
    from ecgadapt.rhythm.model import resolve_rhythm_model

    export_onnx(resolve_rhythm_model(), tmp_path / "rhythm.onnx")
    with pytest.raises(ConfigError, match="rhythm.onnx: an exported model of the 'rhythm' task, not of beats"):
        annotate_record(tmp_path / "rhythm.onnx", embedded / "233", tmp_path / "x", rhythm=False)
