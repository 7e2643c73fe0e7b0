"""A rhythm model's checkpoint: the task, preprocessing, classes and lead it records, the shipped one found by name, and
the check that a checkpoint handed to a rhythm command is a rhythm model (and a beat model's, for the beat commands).

A rhythm model reads one lead in fixed windows (10 s at 100 Hz by default, each z-scored) and gives each window the
probabilities of four classes: normal sinus rhythm, atrial fibrillation (atrial flutter included: MIT-BIH's "(AFL"
episodes are trained as AF, so the model does not tell the two apart), another rhythm, and noise.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ecgadapt.errors import ConfigError, EcgAdaptError
from ecgadapt.models.io import load_checkpoint
from ecgadapt.models.registry import EcgModel
from ecgadapt.prepare import PrepSettings

RHYTHM_TASK = "rhythm"
BEAT_TASK = "beats"
#: the classes of a rhythm model, in its output order
RHYTHM_CLASSES = ("N", "AF", "O", "~")
RHYTHM_CLASS_NAMES = {"N": "normal sinus rhythm", "AF": "atrial fibrillation or flutter", "O": "other rhythm",
                      "~": "noise"}
#: a class as a WFDB rhythm annotation's aux note ("+" annotations, as MIT-BIH writes "(AFIB"); "(O" and "(NOISE" are
#: ecgadapt's own (MIT-BIH names each other rhythm; it marks noise with signal-quality annotations, not rhythms)
WFDB_RHYTHM_NOTES = {"N": "(N", "AF": "(AFIB", "O": "(O", "~": "(NOISE"}
#: the leads a rhythm model reads a recording on, best first, when the recording has several (its own first lead
#: where none of these is there): MIT-BIH's and the Holter's modified lead II, then the limb leads
RHYTHM_LEADS = ("MLII", "II", "ECG1", "I", "ECG", "V1")
#: the default rhythm model shipped with the package (its card beside it)
SHIPPED_RHYTHM_MODEL = "resnet1d18-rhythm"


def checkpoint_task(meta: dict[str, Any]) -> str | None:
    """What a checkpoint's model does, from its metadata: "rhythm", "beats", another window task ("windows", e.g. the
    transfer study's upstream model), or None where it does not say (an older checkpoint without preprocessing)."""
    if meta.get("task"):
        return str(meta["task"])
    prep = meta.get("prep")
    return str(prep.get("task")) if isinstance(prep, dict) and prep.get("task") else None


def rhythm_settings(window_s: float = 10.0, target_fs: float = 100.0, stride_s: float = 5.0) -> PrepSettings:
    """How a rhythm model's windows are cut: one lead, 0.5-40 Hz, resampled, ``window_s`` windows every ``stride_s``,
    each z-scored."""
    return PrepSettings(task="windows", target_fs=target_fs, leads=None, normalize="window", window_s=window_s,
                        window_mode="all", window_stride_s=stride_s, label_source="record")


def _shipped_dir() -> Path:
    return Path(str(resources.files("ecgadapt") / "assets" / "rhythm"))


def shipped_rhythm_models() -> list[str]:
    return sorted(p.stem for p in _shipped_dir().glob("*.pt"))


def shipped_rhythm_card(name: str = SHIPPED_RHYTHM_MODEL) -> dict[str, Any]:
    path = _shipped_dir() / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: the model card of shipped rhythm model {name!r} cannot be read ({err})") from err


def resolve_rhythm_model(model: str | Path | None = None) -> Path:
    """A checkpoint path, or the name of a shipped rhythm model; None: the default one."""
    if model is None:
        model = SHIPPED_RHYTHM_MODEL
    if Path(model).is_file():
        return Path(model)
    path = _shipped_dir() / f"{model}.pt"
    if path.is_file():
        return path
    if str(model) == SHIPPED_RHYTHM_MODEL:
        raise ConfigError(f"{path}: shipped rhythm model missing (re-create it with `ecgadapt rhythm train`)")
    raise ConfigError(f"{model}: no such checkpoint, and not a shipped rhythm model "
                      f"({', '.join(shipped_rhythm_models()) or 'none shipped'})")


def load_rhythm_model(path: str | Path) -> tuple[EcgModel, dict[str, Any]]:
    """A rhythm model's checkpoint and its metadata; a ConfigError naming the file for any other (a beat model, the
    transfer study's upstream model, a checkpoint that records no task)."""
    model, meta = load_checkpoint(path)
    task = checkpoint_task(meta)
    if task != RHYTHM_TASK:
        what = {BEAT_TASK: "a beat model (use it with `ecgadapt annotate` or `personalize`)",
                None: "a checkpoint that records no task"}.get(task, f"a model of the {task!r} task")
        raise ConfigError(f"{path}: {what}, not a rhythm model; train one with `ecgadapt rhythm train`, or leave "
                          "--rhythm-model out for the shipped one")
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != model.num_classes:
        raise ConfigError(f"{path}: its class names ({names!r}) do not match the network's {model.num_classes} outputs")
    try:
        settings = PrepSettings.from_dict(meta["prep"])
    except (KeyError, TypeError, EcgAdaptError) as err:
        raise ConfigError(f"{path}: the rhythm model's preprocessing settings are missing or unreadable ({err})") from err
    if settings.task != "windows" or settings.target_fs is None or model.in_leads != 1:
        raise ConfigError(f"{path}: a rhythm model reads one lead in fixed windows at a set rate; this one's settings "
                          f"say task {settings.task!r}, rate {settings.target_fs}, {model.in_leads} lead(s)")
    return model, meta
