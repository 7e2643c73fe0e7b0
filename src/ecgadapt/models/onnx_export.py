"""A checkpoint exported to ONNX, to run where ecgadapt does not: the network with a softmax on top (outputs are
class probabilities) and what a runtime needs to feed it in the ONNX metadata (task, classes, the preprocessing
settings with window, rate and leads, the RR feature order), read back by :func:`onnx_metadata`.

``onnx``, ``onnxscript`` and ``onnxruntime`` are the ``onnx`` extra (``pip install 'ecgadapt[onnx]'``).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgadapt.errors import ConfigError
from ecgadapt.models.io import load_checkpoint

#: the metadata key holding the checkpoint's description (JSON)
METADATA_KEY = "ecgadapt"
#: what of a checkpoint's metadata travels (plain data a runtime needs; not a guard's evidence or a filter's state)
EXPORTED_META = ("kind", "task", "prep", "fs", "label_names", "personalized_for", "personalized_lead", "method",
                 "command", "sources")


class _Probabilities(nn.Module):
    def __init__(self, model: nn.Module, with_rr: bool):
        super().__init__()
        self.model, self.with_rr = model, with_rr

    def forward(self, x: torch.Tensor, rr: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.model(x, rr=rr) if self.with_rr else self.model(x)
        return torch.softmax(logits.float(), dim=1)


def _requires_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"ONNX export needs the onnx extra: pip install 'ecgadapt[onnx]' ({err})") from None


def export_onnx(checkpoint: str | Path, out: str | Path) -> Path:
    """``checkpoint`` (a beat or rhythm model) as an ONNX file at ``out``: inputs ``x`` [batch, leads, samples] (and
    ``rr`` [batch, RR features] for a beat model that reads them), output ``probabilities`` [batch, classes]."""
    _requires_onnx()
    import onnx

    from ecgadapt.signal.beats import RR_FEATURES

    model, meta = load_checkpoint(checkpoint)
    prep = meta.get("prep")
    if not isinstance(prep, dict):
        raise ConfigError(f"{checkpoint}: the checkpoint records no preprocessing settings: a runtime could not "
                          "feed it (only beat and rhythm models are exported)")
    model.eval()
    beats = prep.get("task") == "beats"
    fs = float(meta.get("fs") or prep.get("target_fs") or 0)
    samples = int(round((prep["beat_before_s"] + prep["beat_after_s"]) * fs)) if beats else \
        int(round(prep["window_s"] * fs))
    rr_width = int(getattr(model, "rr_features", 0) or 0)
    with_rr = beats and rr_width > 0
    x = torch.randn(2, model.in_leads, samples)
    args = (x, torch.randn(2, rr_width)) if with_rr else (x,)
    names = ["x", "rr"] if with_rr else ["x"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _Probabilities(model, with_rr)
    batch = torch.export.Dim("batch", min=1)
    dynamic = {"x": {0: batch}, "rr": {0: batch}} if with_rr else {"x": {0: batch}}
    onnx_log = logging.getLogger("torch.onnx")  # its notes on optional packages (torchvision) are not the user's
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(wrapper, args, input_names=names, output_names=["probabilities"],
                                        dynamic_shapes=dynamic, dynamo=True, verbose=False)
    finally:
        onnx_log.setLevel(level)
    proto = program.model_proto
    description = {k: meta[k] for k in EXPORTED_META if k in meta}
    description.update(task=description.get("task") or prep.get("task"), samples=samples, in_leads=model.in_leads,
                       rr_features=list(RR_FEATURES[:rr_width]) if with_rr else [], network=model.model_name)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(description)
    tmp = out.with_name(f".{out.name}.tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


def onnx_metadata(path: str | Path) -> dict[str, Any]:
    """What an exported file says of itself; a ConfigError naming the file for one ecgadapt did not export."""
    _requires_onnx()
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # noqa: BLE001 - onnx raises DecodeError, OSError, ...
        raise ConfigError(f"{path}: not an ONNX file ({type(err).__name__})") from err
    found = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in found:
        raise ConfigError(f"{path}: an ONNX file ecgadapt did not export (no {METADATA_KEY!r} metadata)")
    return json.loads(found[METADATA_KEY])


def onnx_probabilities(path: str | Path, x: np.ndarray, rr: np.ndarray | None = None) -> np.ndarray:
    """Class probabilities from onnxruntime for windows ``x`` (and RR features ``rr`` where the model reads them)."""
    return OnnxClassifier(path).probabilities(x, rr)


class OnnxClassifier:
    """An exported model run by onnxruntime: ``probabilities(X, rr)`` for windows cut as its metadata says (what
    ``annotate --model FILE.onnx`` classifies beats with)."""

    def __init__(self, path: str | Path, batch_size: int = 4096):
        _requires_onnx()
        import onnxruntime as ort

        self.path, self.meta, self.batch_size = Path(path), onnx_metadata(path), batch_size
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.rr_width = len(self.meta.get("rr_features") or [])

    def probabilities(self, X: np.ndarray, rr: np.ndarray | None = None) -> np.ndarray:
        parts = [np.zeros((0, len(self.meta["label_names"])), dtype=np.float32)]
        for s in range(0, len(X), self.batch_size):
            feeds = {"x": np.ascontiguousarray(X[s:s + self.batch_size], dtype=np.float32)}
            if self.rr_width:
                feeds["rr"] = np.ascontiguousarray(rr[s:s + self.batch_size, :self.rr_width], dtype=np.float32)
            parts.append(self.session.run(["probabilities"], feeds)[0])
        return np.concatenate(parts)
