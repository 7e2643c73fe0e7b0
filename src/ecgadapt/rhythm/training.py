"""Training a rhythm model: CinC 2017's recordings (each one patient) split patient-wise into training, validation and
test recordings, with MIT-BIH DS1's rhythm episodes (optional) joining the training; the epoch is chosen on the
validation recordings only, the test recordings are scored once at the end for the model card.

CinC 2017 labels a whole 9-61 s recording from a hand-held single lead: N (normal), A (AF), O (another rhythm), ~
(noisy). Every 10-s window of a recording (one every 5 s) carries its recording's label. MIT-BIH DS1's windows carry the
rhythm annotation that covers most of each ("(N" normal, "(AFIB"/"(AFL" AF, any other rhythm O); MIT-BIH marks no
noise as a rhythm, so its windows are never "~". DS2 stays out: it is the AF evaluation.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgadapt._atomic import atomic_write_json, atomic_write_text
from ecgadapt.errors import ConfigError
from ecgadapt.metrics import classification_metrics
from ecgadapt.models.io import save_checkpoint
from ecgadapt.models.registry import EcgModel, create_model
from ecgadapt.prepare import PrepSettings, PreparedDataset, prepare_dataset
from ecgadapt.protocols import DS1
from ecgadapt.rhythm.model import RHYTHM_CLASSES, RHYTHM_TASK, rhythm_settings
from ecgadapt.train.data import ArrayDataset
from ecgadapt.train.trainer import TrainConfig, fit, predict

#: CinC 2017's label codes and MIT-BIH's window rhythms (``prepare.RHYTHM_CLASSES``) as rhythm-model classes
SOURCE_CLASSES = {"N": "N", "A": "AF", "AF": "AF", "O": "O", "~": "~"}
#: the share of CinC 2017 recordings for validation and for test; the split is drawn once with SPLIT_SEED, whatever
#: the training seed, so that every model's test recordings are the same
VALIDATION_SHARE, TEST_SHARE, SPLIT_SEED = 0.1, 0.1, 0
#: the challenge's score: the mean F1 of these classes (noise is left out)
CHALLENGE_CLASSES = ("N", "AF", "O")
RHYTHM_TRAIN_CONFIG = TrainConfig(epochs=14, batch_size=128, lr=2e-3, class_weights="sqrt", patience=4,
                                  monitor="f1_macro", bf16=True, seed=0)
RHYTHM_NETWORK = ("resnet1d18", {"base_width": 32})


@dataclass(frozen=True)
class CincSplit:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]


def split_cinc_records(names: list[str], seed: int = SPLIT_SEED) -> CincSplit:
    """Recordings -> training / validation / test, seeded. Each CinC 2017 recording is a different patient, so a split
    of recordings is a patient-wise split."""
    order = np.random.default_rng(seed).permutation(sorted(names))
    n_val, n_test = int(round(VALIDATION_SHARE * len(order))), int(round(TEST_SHARE * len(order)))
    if len(order) - n_val - n_test < 1 or n_val < 1 or n_test < 1:
        raise ConfigError(f"{len(order)} CinC 2017 recording(s): too few to split into training, validation and test")
    return CincSplit(tuple(sorted(order[n_val + n_test:])), tuple(sorted(order[:n_val])),
                     tuple(sorted(order[n_val:n_val + n_test])))


def as_rhythm_labels(prepared: PreparedDataset) -> np.ndarray:
    """The prepared windows' labels as indices of ``RHYTHM_CLASSES`` (-1: none)."""
    y = np.asarray(prepared.y)
    lookup = np.array([RHYTHM_CLASSES.index(SOURCE_CLASSES[name]) if name in SOURCE_CLASSES else -1
                       for name in prepared.label_names] + [-1], dtype=np.int64)
    return lookup[np.where(y >= 0, y, len(prepared.label_names))]


def rows_of_records(prepared: PreparedDataset, names: tuple[str, ...], y: np.ndarray) -> np.ndarray:
    wanted = np.isin(np.asarray(prepared.record_names), list(names))
    return np.flatnonzero(wanted[np.asarray(prepared.record)] & (y >= 0))


def prepare_cinc2017(root: str | Path, settings: PrepSettings, progress: bool = True,
                     cache_root: str | Path | None = None) -> PreparedDataset:
    prepared, report = prepare_dataset("cinc2017", root, settings, workers=2, progress=progress, cache_root=cache_root)
    if report.failures:
        print(f"cinc2017: {len(report.failures)} recording(s) skipped, e.g. {report.failures[0]}", file=sys.stderr)
    return prepared


def prepare_mitdb_rhythm(root: str | Path, settings: PrepSettings, records: tuple[str, ...] = DS1,
                         progress: bool = True, cache_root: str | Path | None = None) -> PreparedDataset:
    """MIT-BIH's windows on MLII labelled by the rhythm annotation covering most of each."""
    mit = replace(settings, leads=("MLII",), label_source="rhythm")
    prepared, _ = prepare_dataset("mitdb", root, mit, workers=2, records=records, progress=progress,
                                  cache_root=cache_root)
    return prepared


def recording_scores(prepared: PreparedDataset, rows: np.ndarray, probs: np.ndarray, y: np.ndarray
                     ) -> dict[str, Any]:
    """Recording-level scores: each recording's class is the argmax of its windows' mean probabilities (every window
    of it used); per-class F1 and the challenge score (mean F1 of N, AF, O)."""
    record = np.asarray(prepared.record)[rows]
    names = np.unique(record)
    mean = np.stack([probs[record == r].mean(0) for r in names])
    truth = np.array([y[rows][record == r][0] for r in names])
    metrics = classification_metrics(truth, mean, RHYTHM_CLASSES)
    f1 = {c: _f1(metrics["per_class"][c]) for c in RHYTHM_CLASSES}
    return {"recordings": int(len(names)), "f1": f1,
            "challenge_score": round(float(np.mean([f1[c] for c in CHALLENGE_CLASSES])), 4),
            "confusion": metrics["confusion"]}


def _f1(per_class: dict[str, Any]) -> float:
    se, ppv = per_class["sensitivity"], per_class["ppv"]
    return round(2 * se * ppv / (se + ppv), 4) if se == se and ppv == ppv and se + ppv > 0 else 0.0


def train_rhythm_model(cinc2017: str | Path, out: str | Path, *, mitdb: str | Path | None = None, seed: int = 0,
                       config: TrainConfig = RHYTHM_TRAIN_CONFIG, progress: bool = True, command: str = "",
                       cache_root: str | Path | None = None, work_dir: str | Path | None = None,
                       network: tuple[str, dict[str, Any]] = RHYTHM_NETWORK) -> dict[str, Any]:
    """Train a rhythm model and write it to ``out`` (checkpoint) with its card (``.json``, ``.md``) beside it; returns
    the card. ``work_dir`` keeps the resumable training state (a killed run started again continues)."""
    out = Path(out)
    settings = rhythm_settings()
    cinc = prepare_cinc2017(cinc2017, settings, progress, cache_root)
    y_cinc = as_rhythm_labels(cinc)
    split = split_cinc_records(cinc.record_names)
    parts = [ArrayDataset(cinc.X, y_cinc, rows_of_records(cinc, split.train, y_cinc))]
    sources = [{"dataset": "cinc2017", "path": str(cinc2017), "license": "ODC-By 1.0",
                "recordings": len(split.train), "windows": len(parts[0])}]
    if mitdb is not None:
        mit = prepare_mitdb_rhythm(mitdb, settings, progress=progress, cache_root=cache_root)
        y_mit = as_rhythm_labels(mit)
        parts.append(ArrayDataset(mit.X, y_mit, np.flatnonzero(y_mit >= 0)))
        sources.append({"dataset": "mitdb", "path": str(mitdb), "license": "ODC-By 1.0",
                        "recordings": len(mit.record_names), "records": list(mit.record_names),
                        "windows": len(parts[-1])})
    train = ArrayDataset.concat(*parts) if len(parts) > 1 else parts[0]
    val = ArrayDataset(cinc.X, y_cinc, rows_of_records(cinc, split.val, y_cinc))
    name, kwargs = network
    torch.manual_seed(seed)
    model = create_model(name, in_leads=1, num_classes=len(RHYTHM_CLASSES), **kwargs)
    config = replace(config, seed=seed)
    result = fit(model, train, val, config, label_names=RHYTHM_CLASSES, progress=progress,
                 out_dir=Path(work_dir) if work_dir else None)
    val_scores, test_scores = shipped_scores(model, cinc, y_cinc, split, config.bf16)
    train_y = np.asarray(train.y[train.indices])
    card = {"task": RHYTHM_TASK, "model": name, "model_kwargs": kwargs, "classes": list(RHYTHM_CLASSES),
            "prep": settings.to_dict(), "fs": settings.target_fs, "command": command, "seed": seed,
            "config": asdict(config), "sources": sources,
            "train_windows": {c: int((train_y == i).sum()) for i, c in enumerate(RHYTHM_CLASSES)},
            "split": {"seed": SPLIT_SEED, "val": list(split.val), "test": list(split.test)},
            "best_epoch": result.best_epoch, "epochs_run": len(result.history),
            "val_window_macro_f1": round(float(result.best_metric), 4), "seconds": round(result.seconds, 1),
            "val": val_scores, "test": test_scores, "history": result.history}
    save_rhythm_model(model, card, out)
    return card


def shipped_scores(model: EcgModel, cinc: PreparedDataset, y: np.ndarray, split: CincSplit, bf16: bool = True
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The weights rounded to half precision as they are stored (``save_rhythm_model``: half the file), then the
    recording-level scores of the validation and the test recordings with them."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    scores = []
    for names in (split.val, split.test):
        rows = rows_of_records(cinc, names, y)
        scores.append(recording_scores(cinc, rows, predict(model, ArrayDataset(cinc.X, y, rows), bf16=bf16), y))
    return scores[0], scores[1]


def save_rhythm_model(model: EcgModel, card: dict[str, Any], path: str | Path) -> Path:
    """The checkpoint (task, preprocessing, classes, lead rule) + ``.json`` card + ``.md`` model card beside it."""
    path = Path(path)
    meta = {"kind": "rhythm-model", "task": RHYTHM_TASK, "prep": card["prep"], "fs": card["fs"],
            "label_names": card["classes"], "command": card["command"], "seed": card["seed"],
            "best_epoch": card["best_epoch"], "sources": [s["dataset"] for s in card["sources"]]}
    save_checkpoint(model, path, half=True, **meta)
    slim = {k: v for k, v in card.items() if k != "history"}
    atomic_write_json(path.with_suffix(".json"), {**slim, "history": card["history"]})
    atomic_write_text(path.with_suffix(".md"), model_card_text(slim))
    return path


def model_card_text(card: dict[str, Any]) -> str:
    val, test = card["val"], card["test"]
    srcs = ", ".join(f"{s['dataset']} ({s['recordings']} recordings, {s['windows']} windows)" for s in card["sources"])
    f1 = lambda d: " · ".join(f"{c} {d['f1'][c]:.3f}" for c in RHYTHM_CLASSES)  # noqa: E731
    return f"""# Rhythm model: {card['model']}

**Task.** One lead, 10-s windows at {card['fs']:g} Hz (one every {card['prep']['window_stride_s']:g} s), each window
classified as normal sinus rhythm (N), atrial fibrillation or flutter (AF), another rhythm (O) or noise (~). A
recording's class is the argmax of its windows' mean probabilities; along a long recording the windows give rhythm
episodes and the AF burden.

**Data.** {srcs}. Training windows per class: {json.dumps(card['train_windows'])}. CinC 2017 recordings split
patient-wise (each recording one patient; split seed {card['split']['seed']}): {len(card['split']['val'])} validation
and {len(card['split']['test'])} test recordings, neither trained on.

**Training.** Seed {card['seed']}, bf16 autocast on the CPU, best epoch {card['best_epoch']} of {card['epochs_run']}
by validation window macro F1 ({card['val_window_macro_f1']:.3f}), {card['seconds']:.0f} s. Command:
`{card['command']}`.

**Scores (recording level, CinC 2017).** Validation ({val['recordings']} recordings): F1 {f1(val)}; challenge score
(mean F1 of N, AF, O) {val['challenge_score']:.3f}. Test ({test['recordings']} recordings, scored once after
training): F1 {f1(test)}; challenge score {test['challenge_score']:.3f}.

**Limits.** CinC 2017 is a hand-held single lead (lead I-like) of 9-61 s; MIT-BIH DS1 (if listed above) adds 22
Holter recordings on MLII, two of them with AF. Atrial flutter is trained as AF. The model has not seen paced
rhythms as a class, nor children. AF on Holter recordings is measured in BENCHMARKS.md.
"""
