"""The DiffECG study (Zhou et al., IJCAI 2025), on the data available here.

Two experiments, both from one config (``ecgadapt study diffecg --config NAME``):

**Generalization** (the paper's Table 1): pre-train on a *source* database without labels — DDPM on each modality
(raw, spectrogram, Lorenz plot), and the SimCLR / MoCo / CLOCS baselines on the raw signal with the same encoder.
Freeze. On the *target* database, split subjects patient-wise: ``finetune_fraction`` of them (20 %) to train the
head — a quarter of those held out for early stopping — and the rest (80 %) to test. Variants: DiffECG
multi-modal and each uni-modal extractor, the three contrastive baselines (same head), and a supervised ResNet1d18
trained on the same 20 %. Scores: accuracy, macro and weighted F1, pooled and per test subject.

**Personalization** (Tables 2-4): DDPM on MIT-BIH DS1 beats (no labels), a ``diffecg`` population model (frozen
encoder + head trained on DS1, validation patients held out), then per DS2 patient the first ``labelled_minutes``
(3 of 30 min: the paper's 10 %) to personalize and the rest to test, through ``ecgadapt study personalize``:
fixed t, t by Gaussian-process BO on gamma and on the alternative objectives, and full fine-tuning for the
compute comparison (seconds and trained weights per patient).

Everything is resumable: pre-trainings keep their checkpoints, each generalization variant is one JSON file.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score

from ecgadapt._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.data import AAMI_CLASSES
from ecgadapt.diffecg.contrastive import METHODS as CONTRASTIVE, ContrastiveConfig, pretrain_contrastive
from ecgadapt.diffecg.multimodal import (MODALITIES, FrozenExtractor, HeadConfig, ModalInputs, beat_context_peaks,
                                         extract_maps, modal_inputs, predict_fusion, train_fusion_head, window_peaks)
from ecgadapt.diffecg.pretrain import PretrainConfig, load_unet, pretrain_diffusion
from ecgadapt.models.unet1d import UNetEncoder
from ecgadapt.errors import ConfigError
from ecgadapt.models import create_model
from ecgadapt.models.io import load_state
from ecgadapt.prepare import PreparedDataset, default_settings, prepare_dataset
from ecgadapt.signal.peaks import R_PEAK_METHODS
from ecgadapt.studies._common import database_records, read_config
from ecgadapt.studies._common import shipped_configs as _shipped_configs
from ecgadapt.studies.diffecg_modal_t import ModalPersonalization, run_modal_personalization
from ecgadapt.train import ArrayDataset, TrainConfig, fit, predict

SUPERVISED = "resnet1d18"


@dataclass(frozen=True)
class DataSpec:
    name: str
    dataset: str
    root: str  # relative to --data (or absolute)
    task: str = "windows"  # windows | beats
    leads: tuple[str, ...] | None = None
    target_fs: float | None = 100.0
    beat_before_s: float = 0.25
    beat_after_s: float = 0.45
    records: tuple[str, ...] | None = None
    limit: int | None = None  # the first ``limit`` records (smoke configs)
    drop_classes: tuple[str, ...] = ()  # classes left out of head training and scoring (e.g. Q beats)
    #: windows of rhythm databases: one every ``window_stride_s`` seconds (None: back to back). A 24-h Holter
    #: record has 8,640 back-to-back 10-s windows; LTAF's 84 records are thinned so they fit in memory
    window_stride_s: float | None = None


@dataclass(frozen=True)
class Generalization:
    name: str
    source: DataSpec
    target: DataSpec
    finetune_fraction: float = 0.2
    max_test_items: int | None = None  # a seeded random subset of the test items (smoke configs)


@dataclass(frozen=True)
class Personalization:
    mitdb: str = "mitdb"
    labelled_minutes: float = 3.0
    methods: tuple[str, ...] = ("none",)
    patients: tuple[str, ...] | None = None
    pretrain: PretrainConfig = PretrainConfig()
    population: TrainConfig = TrainConfig(freeze="head", epochs=8, lr=3e-3, class_weights="sqrt", patience=3)


@dataclass(frozen=True)
class DiffEcgStudyConfig:
    name: str
    description: str
    seed: int = 0
    t: int = 30  # the noise step of the generalization extractors (the paper's Table 3 range is 20..70)
    modalities: tuple[str, ...] = MODALITIES
    baselines: tuple[str, ...] = (*CONTRASTIVE, SUPERVISED)
    pretrain: PretrainConfig = PretrainConfig()
    contrastive: ContrastiveConfig = ContrastiveConfig()
    head: HeadConfig = HeadConfig()
    supervised: TrainConfig = TrainConfig(epochs=20, lr=1e-3, class_weights="sqrt", patience=5, bf16=True)
    generalization: tuple[Generalization, ...] = ()
    personalization: Personalization | None = None
    #: per-subject, per-modality t of the multi-modal model, one entry per generalization experiment it runs on
    modal_personalization: tuple[ModalPersonalization, ...] = ()
    #: the R-peak detector of the rhythm windows' Lorenz plots (``signal.peaks.detect_r_peaks``'s method)
    lorenz_detector: str = "neurokit"


def _data_spec(d: dict[str, Any]) -> DataSpec:
    d = dict(d)
    for key in ("leads", "records", "drop_classes"):
        if d.get(key) is not None:
            d[key] = tuple(d[key])
    return DataSpec(**d)


def _pretrain_config(d: dict[str, Any]) -> PretrainConfig:
    return PretrainConfig(**{**d, **({"mults": tuple(d["mults"])} if "mults" in d else {})})


def load_config(name_or_path: str | Path) -> DiffEcgStudyConfig:
    """A config by file path, or by the name of a shipped one (``ecgadapt.configs/diffecg/NAME.toml``)."""
    path, raw = read_config("diffecg", name_or_path)
    try:
        pretrain = _pretrain_config(raw.get("pretrain", {}))
        contrastive = raw.get("contrastive", {})
        pers = raw.get("personalization")
        modal = raw.get("modal_personalization", [])
        modal = [modal] if isinstance(modal, dict) else modal  # one table, or an array of tables
        config = DiffEcgStudyConfig(
            name=raw["name"], description=raw.get("description", ""), seed=raw.get("seed", 0), t=raw.get("t", 30),
            modalities=tuple(raw.get("modalities", MODALITIES)), baselines=tuple(raw.get("baselines", ())),
            pretrain=pretrain,
            contrastive=ContrastiveConfig(**{**contrastive, "base": pretrain.base, "mults": pretrain.mults}),
            head=HeadConfig(**raw.get("head", {})), supervised=TrainConfig(**raw.get("supervised", {})),
            generalization=tuple(Generalization(name=g["name"], source=_data_spec(g["source"]),
                                                target=_data_spec(g["target"]),
                                                **{k: v for k, v in g.items() if k not in ("name", "source", "target")})
                                 for g in raw.get("generalization", [])),
            personalization=None if pers is None else Personalization(
                mitdb=pers.get("mitdb", "mitdb"), labelled_minutes=pers.get("labelled_minutes", 3.0),
                methods=tuple(pers["methods"]), patients=tuple(pers["patients"]) if pers.get("patients") else None,
                pretrain=_pretrain_config({**asdict(pretrain), **pers.get("pretrain", {})}),
                population=TrainConfig(**{"freeze": "head", **pers.get("population", {})})),
            modal_personalization=tuple(ModalPersonalization(**{**m, "fixed_t": tuple(m.get("fixed_t", (30,)))})
                                        for m in modal),
            lorenz_detector=raw.get("lorenz_detector", "neurokit"))
    except (KeyError, TypeError) as err:
        raise ConfigError(f"{path}: incomplete or unknown setting ({err})") from err
    except ConfigError as err:  # a setting's own check: say which file it came from
        raise ConfigError(f"{path}: {err}") from err
    unknown = set(config.modalities) - set(MODALITIES)
    if unknown or not config.modalities:
        raise ConfigError(f"{path}: modalities must be some of {', '.join(MODALITIES)}, got {list(config.modalities)}")
    for mp in config.modal_personalization:
        if mp.experiment not in {g.name for g in config.generalization}:
            raise ConfigError(f"{path}: modal_personalization.experiment {mp.experiment!r} is not a generalization "
                              "experiment")
    if config.lorenz_detector not in R_PEAK_METHODS:
        raise ConfigError(f"{path}: lorenz_detector must be one of {', '.join(R_PEAK_METHODS)}, got "
                          f"{config.lorenz_detector!r}")
    bad = set(config.baselines) - {*CONTRASTIVE, SUPERVISED}
    if bad:
        raise ConfigError(f"{path}: unknown baseline(s) {sorted(bad)}; known: {', '.join((*CONTRASTIVE, SUPERVISED))}")
    return config


def shipped_configs() -> list[str]:
    return _shipped_configs("diffecg")


# ----------------------------------------------------------------------------------------------
# Data


@dataclass
class StudyItems:
    """A prepared database as this study uses it: arrays in memory, the modality inputs, subject of each item."""

    spec: DataSpec
    prepared: PreparedDataset
    rows: np.ndarray  # rows of the prepared cache kept (classes in drop_classes removed)
    inputs: ModalInputs
    y: np.ndarray
    subject: np.ndarray  # index into ``prepared.subjects`` (the split draws from these)

    def subject_names(self, idx: np.ndarray) -> list[str]:
        return [str(self.prepared.subjects[int(i)]) for i in idx]

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.prepared.label_names


def load_items(spec: DataSpec, data_root: Path, modalities: tuple[str, ...], cache: Path,
               progress: bool = True, detector: str = "neurokit") -> StudyItems:
    """``spec``'s prepared items and their modality inputs (``detector``: R peaks of rhythm windows' Lorenz plots)."""
    root, records = database_records(spec.dataset, spec.root, data_root, spec.records, spec.limit)
    settings = replace(default_settings(spec.dataset, spec.task), target_fs=spec.target_fs,
                       beat_before_s=spec.beat_before_s, beat_after_s=spec.beat_after_s,
                       window_stride_s=spec.window_stride_s)
    if spec.leads is not None:
        settings = replace(settings, leads=spec.leads)
    prepared, _ = prepare_dataset(spec.dataset, root, settings, workers=2, records=records, progress=progress)
    y_all = np.asarray(prepared.y)
    drop = [prepared.label_names.index(c) for c in spec.drop_classes if c in prepared.label_names]
    if y_all.ndim == 2:  # multi-label: keep the items with at least one label; dropped labels are removed columns
        keep_cols = [i for i in range(y_all.shape[1]) if i not in drop]
        rows = np.flatnonzero(y_all[:, keep_cols].sum(1) > 0)
    else:
        rows = np.flatnonzero(~np.isin(y_all, drop) & (y_all >= 0))
    X = np.asarray(prepared.X[rows], dtype=np.float32)
    # the modality arrays cost an R-peak detection per window: kept beside the study, keyed by the cache entry
    key = cache / f"{spec.name}-{prepared.cache.dir.name}-{'-'.join(modalities)}-{detector}.npz"
    if key.is_file():
        with np.load(key) as z:
            inputs = ModalInputs({m: z[m] for m in modalities}, z["present"])
    else:
        if spec.task == "beats":
            peaks, peaks_fs = beat_context_peaks(prepared.time_s()[rows], np.asarray(prepared.record[rows])), 1.0
        else:
            peaks, peaks_fs = (window_peaks(X, prepared.fs, detector) if "lorenz" in modalities
                               else [np.zeros(0)] * len(X)), prepared.fs
        inputs = modal_inputs(X, prepared.fs, peaks, peaks_fs, modalities)
        buf = io.BytesIO()
        np.savez(buf, present=inputs.present, **inputs.arrays)
        key.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(key, buf.getvalue())
    return StudyItems(spec, prepared, rows, inputs, y_all[rows], np.asarray(prepared.subject[rows]))


def subject_split(subject: np.ndarray, finetune_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Patient-wise: ``finetune_fraction`` of the subjects to train the head (a quarter of them, at least one, for
    validation), the rest to test. Item indices per split."""
    subjects = np.unique(subject)
    order = np.random.default_rng(seed).permutation(subjects)
    n_ft = max(2, int(round(finetune_fraction * len(subjects))))
    if n_ft >= len(subjects):
        raise ConfigError(f"{len(subjects)} subjects: too few for a {finetune_fraction:.0%} fine-tuning part and a test part")
    n_val = max(1, n_ft // 4)
    parts = {"val": order[:n_val], "train": order[n_val:n_ft], "test": order[n_ft:]}
    return {k: np.flatnonzero(np.isin(subject, v)) for k, v in parts.items()}


# ----------------------------------------------------------------------------------------------
# Pre-training (cached per source)


def diffusion_encoder(items: StudyItems, modality: str, config: DiffEcgStudyConfig, out: Path,
                      progress: bool) -> UNetEncoder:
    folder = out / "pretrain" / items.spec.name / f"diffusion-{modality}"
    if not (folder / "unet.pt").is_file():
        pretrain_diffusion(items.inputs.arrays[modality], folder, replace(config.pretrain, seed=config.seed),
                           progress=progress)
    unet, _, _ = load_unet(folder / "unet.pt")
    return unet.encoder


def contrastive_encoder(items: StudyItems, method: str, config: DiffEcgStudyConfig, out: Path,
                        progress: bool) -> UNetEncoder:
    folder = out / "pretrain" / items.spec.name / method
    path = folder / "encoder.pt"
    X = items.inputs.arrays["raw"]
    if not path.is_file():
        patient = None
        if method == "clocs":
            # CLOCS (CMSC): adjacent non-overlapping halves of a segment are a positive pair of the same patient
            half = X.shape[-1] // 2
            X = np.stack([X[..., :half], X[..., half:2 * half]], 1).reshape(-1, X.shape[1], half)
            patient = np.repeat(items.subject, 2)
        pretrain_contrastive(X, folder, replace(config.contrastive, method=method, seed=config.seed),
                             patient=patient, progress=progress)
    state = load_state(path, "contrastive encoder")
    enc = UNetEncoder(items.inputs.arrays["raw"].shape[1], config.pretrain.base, tuple(config.pretrain.mults))
    enc.load_state_dict({k[len("encoder."):]: v for k, v in state["state_dict"].items()})
    return enc


# ----------------------------------------------------------------------------------------------
# Generalization


#: per-subject scores need a few items of that subject
MIN_SUBJECT_ITEMS = 5


def _scores(y: np.ndarray, probs: np.ndarray, subject: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Pooled accuracy (exact match for multi-label), macro and weighted F1; per test subject with enough items."""
    multilabel = y.ndim == 2
    pred = (probs > 0.5).astype(int) if multilabel else probs.argmax(1)
    labels = list(range(n_classes))
    per = {}
    for s in np.unique(subject):
        m = subject == s
        if m.sum() < MIN_SUBJECT_ITEMS:
            continue
        present = np.flatnonzero(y[m].sum(0) > 0) if multilabel else np.unique(y[m])
        per[str(s)] = {"n": int(m.sum()), "accuracy": float(accuracy_score(y[m], pred[m])),
                       "f1_macro": float(f1_score(y[m], pred[m], average="macro", labels=present, zero_division=0))}
    return {"accuracy": float(accuracy_score(y, pred)),
            "f1_macro": float(f1_score(y, pred, average="macro", labels=labels, zero_division=0)),
            "f1_weighted": float(f1_score(y, pred, average="weighted", labels=labels, zero_division=0)),
            "n_test": int(len(y)), "per_subject": per}


def variants_of(config: DiffEcgStudyConfig) -> list[tuple[str, list[tuple[str, str]]]]:
    """(variant name, [(extractor kind, modality)]) for every frozen-extractor variant of the config."""
    out = []
    if len(config.modalities) > 1:
        out.append(("diffecg-multimodal", [("diffusion", m) for m in config.modalities]))
    out += [(f"diffecg-{m}", [("diffusion", m)]) for m in config.modalities]
    out += [(b, [(b, "raw")]) for b in config.baselines if b in CONTRASTIVE]
    return out


def run_generalization(exp: Generalization, config: DiffEcgStudyConfig, data_root: Path, out: Path,
                       progress: bool, log=print) -> list[dict[str, Any]]:
    folder = out / "generalization" / exp.name
    folder.mkdir(parents=True, exist_ok=True)
    need_raw = any(b in CONTRASTIVE for b in config.baselines)
    modalities = tuple(dict.fromkeys((*config.modalities, *(("raw",) if need_raw else ()))))
    source = load_items(exp.source, data_root, modalities, out / "inputs", progress, config.lorenz_detector)
    target = load_items(exp.target, data_root, modalities, out / "inputs", progress, config.lorenz_detector)
    split = subject_split(target.subject, exp.finetune_fraction, config.seed)
    if exp.max_test_items and len(split["test"]) > exp.max_test_items:
        rng = np.random.default_rng(config.seed)
        split["test"] = np.sort(rng.choice(split["test"], exp.max_test_items, replace=False))
    crossing = [set(target.subject[split[a]]) & set(target.subject[split[b]])
                for a, b in (("train", "val"), ("train", "test"), ("val", "test"))]
    assert not any(crossing), f"a subject crosses splits: {crossing}"
    atomic_write_json(folder / "split.json", {k: sorted(target.subject_names(np.unique(target.subject[v])))
                                              for k, v in split.items()})
    n_classes = len(target.label_names)
    rows, maps_cache = [], {}

    def extractor_maps(kind: str, modality: str) -> torch.Tensor:
        if (kind, modality) not in maps_cache:  # an extractor shared by several variants is run once
            if kind == "diffusion":
                extractor = FrozenExtractor(diffusion_encoder(source, modality, config, out, progress), config.t)
            else:
                extractor = FrozenExtractor(contrastive_encoder(source, kind, config, out, progress), 0)
            maps_cache[(kind, modality)] = extract_maps(extractor, target.inputs.arrays[modality])
        return maps_cache[(kind, modality)]

    def frozen_variant(variant: str, parts: list[tuple[str, str]]) -> dict[str, Any]:
        t0 = time.perf_counter()
        maps = [extractor_maps(kind, modality) for kind, modality in parts]
        present = target.inputs.present_of([m for _, m in parts])
        pick = lambda s: [m[torch.from_numpy(split[s])] for m in maps]  # noqa: E731
        head, history = train_fusion_head(pick("train"), present[split["train"]], target.y[split["train"]],
                                          pick("val"), present[split["val"]], target.y[split["val"]], n_classes,
                                          replace(config.head, seed=config.seed))
        pred = predict_fusion(head, pick("test"), present[split["test"]])
        return {"experiment": exp.name, "source": exp.source.name, "target": exp.target.name, "variant": variant,
                "extractors": [f"{k}:{m}" for k, m in parts], "t": config.t if parts[0][0] == "diffusion" else 0,
                **_scores(target.y[split["test"]], pred, test_subjects, n_classes),
                "trained_parameters": sum(p.numel() for p in head.parameters()),
                "head_epochs": len(history), "seconds": round(time.perf_counter() - t0, 1),
                "n_train": int(len(split["train"])), "n_val": int(len(split["val"]))}

    test_subjects = np.asarray(target.subject_names(target.subject[split["test"]]))
    jobs = [(variant, lambda v=variant, p=parts: frozen_variant(v, p)) for variant, parts in variants_of(config)]
    if SUPERVISED in config.baselines:
        jobs.append((SUPERVISED, lambda: _supervised(exp, target, split, config, n_classes, test_subjects, progress)))
    with progress_bar(progress, f"{exp.name}: variants", len(jobs)) as advance:
        for variant, compute in jobs:
            path = folder / f"{variant}.json"
            if path.is_file():  # finished in an earlier run
                rows.append(json.loads(path.read_text()))
            else:
                rows.append(compute())
                atomic_write_json(path, rows[-1])
                log(f"{exp.name} {variant}: macro F1 {rows[-1]['f1_macro']:.3f}, accuracy {rows[-1]['accuracy']:.3f}")
            advance(variant)
    for mp in config.modal_personalization:
        if mp.experiment == exp.name and not (folder / "modal_personalization.json").is_file():
            encoders = {m: diffusion_encoder(source, m, config, out, progress) for m in config.modalities}
            run_modal_personalization(mp, target, split, encoders, config.seed, folder, progress, log)
    return rows


def _supervised(exp: Generalization, target: StudyItems, split: dict[str, np.ndarray], config: DiffEcgStudyConfig,
                n_classes: int, test_subjects: np.ndarray, progress: bool) -> dict[str, Any]:
    """The supervised reference: a ResNet1d18 trained from scratch on the same 20 % (raw signal)."""
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    rows = lambda s: target.rows[split[s]]  # noqa: E731
    model = create_model(SUPERVISED, in_leads=target.prepared.X.shape[1], num_classes=n_classes)
    cfg = replace(config.supervised, seed=config.seed)
    result = fit(model, ArrayDataset.from_prepared(target.prepared, rows("train")),
                 ArrayDataset.from_prepared(target.prepared, rows("val")), cfg, label_names=target.label_names,
                 progress=progress)
    pred = predict(model, ArrayDataset.from_prepared(target.prepared, rows("test")), bf16=cfg.bf16)
    return {"experiment": exp.name, "source": "none (supervised)", "target": exp.target.name, "variant": SUPERVISED,
            "extractors": [], "t": None,
            **_scores(target.y[split["test"]], pred, test_subjects, n_classes),
            "trained_parameters": sum(p.numel() for p in model.parameters()), "head_epochs": len(result.history),
            "seconds": round(time.perf_counter() - t0, 1), "n_train": int(len(split["train"])),
            "n_val": int(len(split["val"]))}


# ----------------------------------------------------------------------------------------------
# Personalization


def diffecg_population_model(pers: Personalization, config: DiffEcgStudyConfig, data_root: Path, out: Path,
                             progress: bool) -> Path:
    """DDPM on DS1 beats (no labels), then the ``diffecg`` head trained on DS1 minus the validation patients."""
    from ecgadapt.population.training import DS1_VALIDATION, prepare_mitdb_beats, rows_of, train_population_model
    from ecgadapt.population.card import save_population_model
    from ecgadapt.protocols import DS1

    path = out / "personalization" / "diffecg-ds1.pt"
    if path.is_file():
        return path
    prepared = prepare_mitdb_beats(data_root / pers.mitdb, progress)
    fit_rows = rows_of(prepared, tuple(r for r in DS1 if r not in DS1_VALIDATION))  # validation patients never seen
    folder = out / "pretrain" / "mitdb-ds1-beats" / "diffusion-raw"
    if not (folder / "unet.pt").is_file():
        pretrain_diffusion(prepared.X[fit_rows], folder, replace(pers.pretrain, seed=config.seed), progress=progress)
    unet, schedule, _ = load_unet(folder / "unet.pt")
    model = create_model("diffecg", in_leads=prepared.X.shape[1], num_classes=len(AAMI_CLASSES),
                         base=unet.config["base"], mults=tuple(unet.config["mults"]), t=config.t)
    model.load_pretrained(unet.state_dict())
    model, card = train_population_model(prepared, DS1, DS1_VALIDATION, model_name="diffecg", config=pers.population,
                                         seed=config.seed, out_dir=out / "personalization" / "population-train",
                                         progress=progress, model=model)
    return save_population_model(model, card, prepared, path, f"ecgadapt study diffecg --config {config.name}")


def run_personalization(pers: Personalization, config: DiffEcgStudyConfig, data_root: Path, out: Path,
                        progress: bool, log=print) -> pd.DataFrame:
    from ecgadapt.studies.personalize import run_personalize_study

    model_path = diffecg_population_model(pers, config, data_root, out, progress)
    folder = out / "personalization"
    done = {"methods": list(pers.methods), "patients": list(pers.patients or ()), "minutes": pers.labelled_minutes}
    marker = folder / "done.json"
    if marker.is_file() and json.loads(marker.read_text()) == done and (folder / "per_patient.csv").is_file():
        return pd.read_csv(folder / "per_patient.csv", dtype={"patient": str})  # finished earlier: not run twice
    table = run_personalize_study(data_root / pers.mitdb, out / "personalization", protocol="mitdb-ds2-personalized",
                                 methods=pers.methods, labelled_minutes=pers.labelled_minutes, seed=config.seed,
                                 patients=pers.patients, progress=progress, log=log, model_path=model_path, guard=False)
    atomic_write_json(marker, done)
    return table


# ----------------------------------------------------------------------------------------------


def run_study(config: DiffEcgStudyConfig, data_root: str | Path, out: str | Path, *, progress: bool = True,
              log=print) -> dict[str, Any]:
    data_root, out = Path(data_root), output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", asdict(config))
    t0 = time.perf_counter()
    general = [row for exp in config.generalization for row in run_generalization(exp, config, data_root, out, progress, log)]
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "per_subject"} for r in general])
    if len(table):
        atomic_write_text(out / "generalization.csv", table.to_csv(index=False))
        atomic_write_json(out / "generalization.json", general)
    modal_rows = [{**row, "experiment": mp.experiment} for mp in config.modal_personalization  # (older files lack it)
                  for row in json.loads((out / "generalization" / mp.experiment / "modal_personalization.json").read_text())]
    pers = None
    if config.personalization is not None:
        pers = run_personalization(config.personalization, config, data_root, out, progress, log)
    from ecgadapt.report.diffecg_study import write_diffecg_report

    summary = {"config": config.name, "seed": config.seed, "threads": torch.get_num_threads(),
               "wall_s": round(time.perf_counter() - t0, 1), "data": str(data_root)}
    write_diffecg_report(out, config, general, pers, summary, modal_rows)
    return {"generalization": general, "personalization": pers, "modal_personalization": modal_rows, **summary}
