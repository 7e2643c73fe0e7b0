"""Inference speed of an exported model in onnxruntime against torch, on the beats and rhythm windows of a 24-hour
recording (MIT-BIH 233's beats and 232's windows, each repeated to 24 h), and their agreement.

    python benchmarks/onnx_speed.py [--out benchmarks/results/onnx_speed.json]

Runs on the embedded records (no ../shared needed). Each figure is the minimum of 3 runs; torch with its default
threads (2 here), onnxruntime's CPU provider with its defaults. The classes must agree on every item.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from ecgadapt._atomic import atomic_write_json
from ecgadapt.data import embedded_root
from ecgadapt.data.recording import read_recording, read_recording_header
from ecgadapt.models.onnx_export import OnnxClassifier, export_onnx, onnx_metadata
from ecgadapt.personalize.base import BeatSet, predict_beats
from ecgadapt.pipeline.recording import load_beat_model, load_patient
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.rhythm.model import load_rhythm_model, resolve_rhythm_model
from ecgadapt.rhythm.personalize import rhythm_windows

BATCH = 4096


def best_of(fn, runs: int = 3) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def compare(name: str, checkpoint: Path, model, items: BeatSet, rr_width: int, work: Path) -> dict:
    path = export_onnx(checkpoint, work / f"{name}.onnx")
    x = np.ascontiguousarray(items.X, dtype=np.float32)
    rr = np.ascontiguousarray(items.rr[:, :rr_width], dtype=np.float32) if rr_width else None
    t_torch, p_torch = best_of(lambda: predict_beats(model, items))
    t_onnx, p_onnx = best_of(lambda: OnnxClassifier(path, batch_size=BATCH).probabilities(x, rr))
    return {"items": int(len(x)), "torch_s": round(t_torch, 2), "onnxruntime_s": round(t_onnx, 2),
            "speed_ratio": round(t_torch / t_onnx, 2),
            "same_class": int((p_torch.argmax(1) == p_onnx.argmax(1)).sum()),
            "max_abs_probability_difference": float(np.abs(p_torch - p_onnx).max()),
            "onnx_bytes": path.stat().st_size, "metadata": onnx_metadata(path)["task"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/onnx_speed.json"))
    args = ap.parse_args()
    root = embedded_root("mitdb")
    result = {"command": "python benchmarks/onnx_speed.py"}
    with tempfile.TemporaryDirectory() as tmp:
        model, meta = load_beat_model(shipped_model_path())
        beats = load_patient(root / "233", meta).beats
        day = BeatSet(np.tile(beats.X, (48, 1, 1)), np.tile(beats.rr, (48, 1)), np.tile(beats.y, 48))
        result["beats_24h"] = compare("beats", shipped_model_path(), model, day, getattr(model, "rr_features", 0),
                                      Path(tmp))
        print("beats:", json.dumps(result["beats_24h"]))
        rmodel, rmeta = load_rhythm_model(resolve_rhythm_model())
        head = read_recording_header(root / "232")
        windows = rhythm_windows(read_recording(head, [0]).record, head.leads[0], rmeta)
        day = BeatSet(np.tile(windows.X, (48, 1, 1)), np.tile(windows.rr, (48, 1)), np.tile(windows.y, 48))
        result["rhythm_windows_24h"] = compare("rhythm", resolve_rhythm_model(), rmodel, day, 0, Path(tmp))
        print("rhythm:", json.dumps(result["rhythm_windows_24h"]))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
