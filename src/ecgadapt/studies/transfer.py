"""The transfer-learning study (Nguyen & Do, PLoS ONE 2025): fine-tuning vs training from scratch.

Grid: upstream datasets x downstream datasets x models x {scratch, finetune} x seeds x downstream training
sizes. Each upstream model is pre-trained once per upstream seed (validation-selected), then fine-tuned with
its head replaced and all layers trainable (the study's setting). Every run selects its epoch on the downstream
validation split; the per-epoch test curve is recorded for the convergence figure only.

Each finished run is one JSON file written atomically under ``runs/``: a killed study, started again with the
same ``--out``, skips what is done (an interrupted upstream pre-training resumes from its ``last.pt``).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ecgadapt._atomic import atomic_write_json, atomic_write_text, output_folder
from ecgadapt.data import get_adapter
from ecgadapt.errors import ConfigError
from ecgadapt.metrics import classification_metrics, metric_ci
from ecgadapt.models import create_model, list_models
from ecgadapt.models.io import load_checkpoint, save_checkpoint
from ecgadapt.prepare import PreparedDataset, default_settings, prepare_dataset
from ecgadapt.protocols import build_protocol
from ecgadapt.studies._common import database_records, read_config
from ecgadapt.studies._common import shipped_configs as _shipped_configs
from ecgadapt.train import ArrayDataset, TrainConfig, fit, predict

CNN_MODELS = ("resnet1d18", "resnet1d50", "resnet1d101", "xresnet1d101", "inception1d")
RNN_MODELS = ("lstm", "bilstm", "gru")


@dataclass(frozen=True)
class DatasetSpec:
    """One database as the study uses it: where it is, how it is prepared, how it is split."""

    name: str
    dataset: str
    root: str  # relative to the study's --data folder (or absolute)
    leads: tuple[str, ...] | None = None
    records: tuple[str, ...] | None = None  # restrict to these records
    limit: int | None = None  # or to the first ``limit`` records in the database's order (smoke configs)
    protocol: str = "patient-split"
    protocol_params: dict[str, Any] = field(default_factory=dict)
    sizes: tuple[int | str, ...] = ("all",)  # downstream training sizes (items); "all" = the whole training split


@dataclass(frozen=True)
class TransferConfig:
    name: str
    description: str
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    upstream: tuple[DatasetSpec, ...]
    downstream: tuple[DatasetSpec, ...]
    upstream_train: TrainConfig
    downstream_train: TrainConfig
    upstream_seeds: tuple[int, ...] = (0,)
    modes: tuple[str, ...] = ("scratch", "finetune")
    curves: bool = True  # per-epoch test F1 at the smallest size, for the convergence figure (reporting only)
    bootstrap: int = 200  # bootstrap resamples for the test-F1 interval of each run


def _spec(d: dict[str, Any]) -> DatasetSpec:
    d = dict(d)
    for key in ("leads", "records", "sizes"):
        if key in d and d[key] is not None:
            d[key] = tuple(d[key])
    return DatasetSpec(**d)


def load_config(name_or_path: str | Path) -> TransferConfig:
    """A config by file path, or by the name of a shipped one (``ecgadapt.configs/transfer/NAME.toml``)."""
    path, raw = read_config("transfer", name_or_path)
    try:
        config = TransferConfig(
            name=raw["name"], description=raw.get("description", ""), models=tuple(raw["models"]),
            seeds=tuple(raw["seeds"]), upstream_seeds=tuple(raw.get("upstream_seeds", [0])),
            modes=tuple(raw.get("modes", ["scratch", "finetune"])), curves=raw.get("curves", True),
            bootstrap=raw.get("bootstrap", 200),
            upstream=tuple(_spec(d) for d in raw["upstream"]), downstream=tuple(_spec(d) for d in raw["downstream"]),
            upstream_train=TrainConfig(**raw.get("upstream_train", {})),
            downstream_train=TrainConfig(**raw.get("downstream_train", {})))
    except (KeyError, TypeError) as err:
        raise ConfigError(f"{path}: incomplete or unknown setting ({err})") from err
    unknown = set(config.models) - set(list_models())
    if unknown:
        raise ConfigError(f"{path}: unknown model(s) {sorted(unknown)}; known: {', '.join(list_models())}")
    if set(config.modes) - {"scratch", "finetune"}:
        raise ConfigError(f"{path}: modes must be scratch and/or finetune, got {list(config.modes)}")
    return config


def shipped_configs() -> list[str]:
    return _shipped_configs("transfer")


# ----------------------------------------------------------------------------------------------
# Data


@dataclass
class StudyData:
    spec: DatasetSpec
    prepared: PreparedDataset
    splits: dict[str, np.ndarray]

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.prepared.label_names

    def part(self, split: str, indices: np.ndarray | None = None) -> ArrayDataset:
        return ArrayDataset.from_prepared(self.prepared, self.splits[split] if indices is None else indices)


def load_study_data(spec: DatasetSpec, data_root: Path, progress: bool = True) -> StudyData:
    root, records = database_records(spec.dataset, spec.root, data_root, spec.records, spec.limit)
    settings = default_settings(spec.dataset, "windows")
    if spec.leads is not None:
        settings = replace(settings, leads=spec.leads)
    prepared, _ = prepare_dataset(spec.dataset, root, settings, workers=2, records=records, progress=progress)
    refs = [r for r in get_adapter(spec.dataset).records(root) if r.name in set(prepared.record_names)]
    protocol = build_protocol(spec.protocol, spec.dataset, refs, **spec.protocol_params)
    protocol.check()
    splits = protocol.indices(prepared)
    for split in ("train", "val", "test"):
        if split not in splits or len(splits[split]) == 0:
            raise ConfigError(f"{spec.name}: protocol {spec.protocol} gives no {split} items")
    return StudyData(spec, prepared, splits)


def subsample(indices: np.ndarray, size: int | str, seed: int) -> np.ndarray:
    """``size`` training items drawn without replacement (all of them for "all" or a size beyond the split)."""
    if size == "all" or int(size) >= len(indices):
        return np.asarray(indices)
    rng = np.random.default_rng(10_000 + seed)
    return np.sort(rng.choice(indices, int(size), replace=False))


# ----------------------------------------------------------------------------------------------
# Runs


def _test_scores(model, data: StudyData, bf16: bool) -> tuple[np.ndarray, np.ndarray]:
    test = data.part("test")
    return np.asarray(test.y[test.indices]), predict(model, test, bf16=bf16)


def pretrain_upstream(config: TransferConfig, up: StudyData, model_name: str, seed: int, out: Path,
                      progress: bool) -> Path:
    """Pre-train ``model_name`` on the upstream data (selected on its validation split); returns the checkpoint."""
    ckpt = out / "upstream" / f"{up.spec.name}__{model_name}__s{seed}.pt"
    if ckpt.is_file():
        return ckpt
    torch.manual_seed(seed)
    leads = up.prepared.X.shape[1]
    model = create_model(model_name, in_leads=leads, num_classes=len(up.label_names))
    cfg = replace(config.upstream_train, seed=seed)
    result = fit(model, up.part("train"), up.part("val"), cfg, label_names=up.label_names,
                 out_dir=ckpt.with_suffix(""), progress=progress)
    y, scores = _test_scores(model, up, cfg.bf16)
    test = classification_metrics(y, scores, up.label_names)
    # what the checkpoint is (a model of windows, not of beats or rhythm episodes), read as it was trained
    save_checkpoint(model, ckpt, task="windows", prep=up.prepared.settings.to_dict(), fs=up.prepared.fs,
                    label_names=list(up.label_names), upstream=up.spec.name, seed=seed, best_epoch=result.best_epoch,
                    val_metric=result.best_metric, seconds=result.seconds, upstream_test=_scalars(test))
    return ckpt


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def run_key(upstream: str, downstream: str, model: str, mode: str, size: int | str, seed: int) -> str:
    return f"{upstream if mode == 'finetune' else 'none'}__{downstream}__{model}__{mode}__n{size}__s{seed}"


def downstream_run(config: TransferConfig, down: StudyData, model_name: str, mode: str, size: int | str, seed: int,
                   upstream_ckpt: Path | None, upstream_name: str, progress: bool, curves: bool = True) -> dict[str, Any]:
    torch.manual_seed(seed)
    leads = down.prepared.X.shape[1]
    n_classes = len(down.label_names)
    if mode == "finetune":
        model, meta = load_checkpoint(upstream_ckpt, in_leads=leads)
        model.reset_classifier(n_classes)  # new head for the downstream labels; the rest kept
    else:
        model = create_model(model_name, in_leads=leads, num_classes=n_classes)
    train_idx = subsample(down.splits["train"], size, seed)
    train = down.part("train", train_idx)
    cfg = replace(config.downstream_train, seed=seed)
    test = down.part("test")
    y_test = np.asarray(test.y[test.indices])

    def test_curve(m) -> dict[str, float]:  # reporting only: fit never reads it
        return {"test_f1_weighted": classification_metrics(y_test, predict(m, test, bf16=cfg.bf16),
                                                           down.label_names)["f1_weighted"]}

    result = fit(model, train, down.part("val"), cfg, label_names=down.label_names, progress=progress,
                 report=test_curve if curves else None)
    scores = predict(model, test, bf16=cfg.bf16)
    metrics = classification_metrics(y_test, scores, down.label_names)
    lo, hi = metric_ci(y_test, scores, down.label_names, "f1_weighted", n_boot=config.bootstrap, seed=seed)
    val_curve = [h["val_f1_weighted"] for h in result.history]
    return {"upstream": upstream_name if mode == "finetune" else "none", "downstream": down.spec.name,
            "model": model_name, "mode": mode, "size": str(size), "n_train": len(train), "seed": seed,
            "test_f1_weighted": metrics["f1_weighted"], "test_f1_weighted_ci": [lo, hi],
            "test_f1_macro": metrics["f1_macro"], "test_accuracy": metrics["accuracy"],
            "test_auroc_macro": metrics["auroc_macro"], "n_test": metrics["n"],
            "best_epoch": result.best_epoch, "epochs_run": len(result.history), "seconds": round(result.seconds, 2),
            "epochs_to_95pct_val": epochs_to_fraction(val_curve, 0.95),
            "val_curve": val_curve,
            "test_curve": [h.get("report_test_f1_weighted") for h in result.history]}


def epochs_to_fraction(curve: list[float], fraction: float) -> int | None:
    """First epoch (1-based) whose value reaches ``fraction`` of the curve's best."""
    if not curve:
        return None
    best = max(curve)
    for i, v in enumerate(curve):
        if v >= fraction * best:
            return i + 1
    return None


def run_study(config: TransferConfig, data_root: str | Path, out: str | Path, *, progress: bool = True,
              log=print) -> pd.DataFrame:
    """Run (or resume) the whole grid; write results, figures and the summary into ``out``."""
    data_root, out = Path(data_root), output_folder(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", _config_dict(config))
    t0 = time.perf_counter()
    ups = {s.name: load_study_data(s, data_root, progress) for s in config.upstream} if "finetune" in config.modes else {}
    downs = {s.name: load_study_data(s, data_root, progress) for s in config.downstream}
    for down in downs.values():
        for up in ups.values():
            if up.prepared.X.shape[1] != down.prepared.X.shape[1]:
                raise ConfigError(f"upstream {up.spec.name} has {up.prepared.X.shape[1]} lead(s), downstream "
                                  f"{down.spec.name} {down.prepared.X.shape[1]}: choose matching leads in the config")
    jobs = []
    for down in downs.values():
        for model_name in config.models:
            for size in down.spec.sizes:
                for seed in config.seeds:
                    if "scratch" in config.modes:
                        jobs.append(("none", down, model_name, "scratch", size, seed))
                    for up_name in ups:
                        jobs.append((up_name, down, model_name, "finetune", size, seed))
    smallest = {d.spec.name: d.spec.sizes[int(np.argmin([len(subsample(d.splits["train"], z, 0)) for z in d.spec.sizes]))]
                for d in downs.values()}
    done = 0
    for up_name, down, model_name, mode, size, seed in jobs:
        key = run_key(up_name, down.spec.name, model_name, mode, size, seed)
        path = out / "runs" / f"{key}.json"
        done += 1
        if path.is_file():
            continue
        ckpt = None
        if mode == "finetune":
            useed = config.upstream_seeds[seed % len(config.upstream_seeds)]
            ckpt = pretrain_upstream(config, ups[up_name], model_name, useed, out, progress)
        log(f"[{done}/{len(jobs)}] {key}")
        # test curves (reporting only) are drawn for the smallest training size: the convergence figure
        curves = config.curves and size == smallest[down.spec.name]
        row = downstream_run(config, down, model_name, mode, size, seed, ckpt, up_name, progress, curves)
        row["upstream_seed"] = config.upstream_seeds[seed % len(config.upstream_seeds)] if mode == "finetune" else None
        atomic_write_json(path, row)
    results = collect_results(out)
    write_outputs(config, results, out, {"data": str(data_root), "wall_s": round(time.perf_counter() - t0, 1),
                                         "threads": torch.get_num_threads(), "machine": platform.machine(),
                                         "upstream": _upstream_meta(out)})
    return results


def report_only(config: TransferConfig, data_root: str | Path, out: str | Path) -> pd.DataFrame:
    """Tables, figures and summary from the runs finished so far (a stopped or still running study)."""
    out = Path(out)
    results = collect_results(out)
    if results.empty:
        raise ConfigError(f"{out}: no finished runs yet")
    write_outputs(config, results, out, {"data": str(data_root), "wall_s": "n/a (report only)",
                                         "threads": torch.get_num_threads(), "machine": platform.machine(),
                                         "upstream": _upstream_meta(out)})
    return results


def _config_dict(config: TransferConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config), default=str))


def _upstream_meta(out: Path) -> list[dict[str, Any]]:
    rows = []
    for ckpt in sorted((out / "upstream").glob("*.pt")):
        meta = torch.load(ckpt, map_location="cpu", weights_only=True)["meta"]
        rows.append({"checkpoint": ckpt.name, **{k: meta[k] for k in ("best_epoch", "val_metric", "seconds")},
                     "upstream_test_f1_weighted": meta["upstream_test"].get("f1_weighted")})
    return rows


def collect_results(out: str | Path) -> pd.DataFrame:
    rows = [json.loads(p.read_text()) for p in sorted((Path(out) / "runs").glob("*.json"))]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# Tables, claims, figures, summary


def aggregate(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over seeds of test weighted F1 per (downstream, model, size, mode)."""
    g = results.groupby(["downstream", "model", "size", "mode"], sort=False)
    agg = g.agg(n_train=("n_train", "mean"), f1_mean=("test_f1_weighted", "mean"), f1_sd=("test_f1_weighted", "std"),
                seeds=("seed", "nunique"), epochs_95=("epochs_to_95pct_val", "mean")).reset_index()
    return agg


def gains(results: pd.DataFrame) -> pd.DataFrame:
    """Fine-tune minus scratch test F1, paired by (downstream, model, size, seed)."""
    keys = ["downstream", "model", "size", "seed"]
    s = results[results["mode"] == "scratch"].set_index(keys)
    ft = results[results["mode"] == "finetune"]
    rows = []
    for _, r in ft.iterrows():
        k = tuple(r[c] for c in keys)
        if k in s.index:
            base = s.loc[k]
            rows.append({**dict(zip(keys, k)), "upstream": r["upstream"], "n_train": r["n_train"],
                         "scratch": base["test_f1_weighted"], "finetune": r["test_f1_weighted"],
                         "gain": r["test_f1_weighted"] - base["test_f1_weighted"],
                         "epochs_95_scratch": base["epochs_to_95pct_val"], "epochs_95_finetune": r["epochs_to_95pct_val"]})
    return pd.DataFrame(rows)


#: a model "did not learn" when at least this share of its runs give one and the same test F1
SAME_OUTPUT_SHARE = 0.75


def not_learning(gd: pd.DataFrame) -> list[str]:
    """Models whose runs, scratch or fine-tuned, whatever the size and seed, mostly end with the very same test F1:
    they give the same output for any training data (e.g. always the majority labels), so their gains say
    nothing about transfer."""
    out = []
    for model, gm in gd.groupby("model"):
        scores = pd.concat([gm.scratch, gm.finetune]).round(6)
        if len(scores) > 1 and scores.value_counts().iloc[0] >= SAME_OUTPUT_SHARE * len(scores):
            out.append(model)
    return out


def claims(g: pd.DataFrame) -> list[dict[str, Any]]:
    """The study's four claims, each with the numbers that support or contradict it in these results. Models that
    did not learn (:func:`not_learning`) are left out of the evidence; "holds" is None where a claim cannot be
    tested."""
    if g.empty:
        return []
    out = []
    for down, gd_all in g.groupby("downstream"):
        dead = not_learning(gd_all)
        gd = gd_all[~gd_all.model.isin(dead)]
        note = f" (left out, did not learn: {', '.join(dead)})" if dead else ""
        if gd.empty:
            continue
        by_size = gd.groupby("n_train")["gain"].mean().sort_index()
        small, large = by_size.index.min(), by_size.index.max()
        win_small = gd[gd.n_train == small].groupby("model")["gain"].mean()
        out.append({"downstream": down, "claim": "fine-tuning helps most on small downstream data",
                    "evidence": f"at n={int(small)}: mean gain {by_size[small]:+.3f} F1; positive for "
                                f"{int((win_small > 0).sum())}/{len(win_small)} models{note}",
                    "holds": bool(by_size[small] > 0 and by_size[small] >= by_size.max() - 1e-9)})
        out.append({"downstream": down, "claim": "the gain fades as downstream data grows",
                    "evidence": "mean gain by n: " + ", ".join(f"{int(n)}: {v:+.3f}" for n, v in by_size.items()),
                    "holds": bool(by_size[large] < by_size[small])})
        e_s, e_f = gd["epochs_95_scratch"].mean(), gd["epochs_95_finetune"].mean()
        out.append({"downstream": down, "claim": "fine-tuning converges faster",
                    "evidence": f"epochs to 95 % of the best validation F1: scratch {e_s:.1f}, fine-tune {e_f:.1f}",
                    "holds": bool(e_f < e_s)})
        cnn = gd[gd.model.isin(CNN_MODELS)]["gain"].mean()
        rnn = gd[gd.model.isin(RNN_MODELS)]["gain"].mean()
        if np.isfinite(cnn) and np.isfinite(rnn):
            out.append({"downstream": down, "claim": "CNNs transfer better than RNNs",
                        "evidence": f"mean gain CNNs {cnn:+.3f}, RNNs {rnn:+.3f}{note}", "holds": bool(cnn > rnn)})
        elif np.isfinite(cnn) and gd_all.model.isin(RNN_MODELS).any():
            out.append({"downstream": down, "claim": "CNNs transfer better than RNNs",
                        "evidence": f"no RNN learned anything{note}: nothing to compare", "holds": None})
    return out


def write_outputs(config: TransferConfig, results: pd.DataFrame, out: Path, meta: dict[str, Any]) -> None:
    from ecgadapt.report.study_plots import transfer_figures

    table = results.drop(columns=["val_curve", "test_curve"], errors="ignore")
    atomic_write_text(out / "results.csv", table.to_csv(index=False))
    atomic_write_json(out / "results.json", json.loads(results.to_json(orient="records")))
    agg = aggregate(results)
    g = gains(results)
    found = claims(g)
    atomic_write_json(out / "claims.json", found)
    figures = transfer_figures(results, g, out / "figures")
    md = _summary_markdown(config, agg, g, found, figures, meta)
    atomic_write_text(out / "summary.md", md)
    from ecgadapt.report.html import markdown_page

    atomic_write_text(out / "summary.html", markdown_page(f"Transfer study: {config.name}", md, out))


def _summary_markdown(config: TransferConfig, agg: pd.DataFrame, g: pd.DataFrame, found: list[dict[str, Any]],
                      figures: list[Path], meta: dict[str, Any]) -> str:
    lines = [f"# Transfer study `{config.name}`", "", config.description, "",
             f"Models: {', '.join(config.models)} · seeds {list(config.seeds)} (upstream seeds "
             f"{list(config.upstream_seeds)}) · data folder `{meta['data']}` · {meta['threads']} torch thread(s) · "
             f"wall time of this invocation: {meta['wall_s']}{' s' if isinstance(meta['wall_s'], (int, float)) else ''}.", "",
             "Test weighted F1 (the study's metric), mean ± SD over seeds. Epochs are selected on the validation split.",
             ""]
    lines += ["| downstream | model | n train | scratch | fine-tune | gain |", "|---|---|---:|---:|---:|---:|"]
    cells = {(r.downstream, r.model, r.size, r.mode): r for r in agg.itertuples()}
    order = {m: i for i, m in enumerate(config.models)}
    keys = sorted(dict.fromkeys((r.downstream, r.model, r.size, r.n_train) for r in agg.itertuples()),
                  key=lambda k: (k[0], order.get(k[1], 99), k[3]))
    for down, model, size, _ in keys:
        got = {m: cells.get((down, model, size, m)) for m in ("scratch", "finetune")}

        def cell(r) -> str:
            return "–" if r is None else f"{r.f1_mean:.3f} ± {0.0 if pd.isna(r.f1_sd) else r.f1_sd:.3f}"
        gain = (f"{got['finetune'].f1_mean - got['scratch'].f1_mean:+.3f}"
                if got["finetune"] is not None and got["scratch"] is not None else "–")
        n = int(next(r for r in got.values() if r is not None).n_train)
        lines.append(f"| {down} | {model} | {n} | {cell(got['scratch'])} | {cell(got['finetune'])} | {gain} |")
    if found:
        lines += ["", "## The study's four claims on these results", "", "| downstream | claim | holds here | evidence |",
                  "|---|---|---|---|"]
        lines += [f"| {c['downstream']} | {c['claim']} | {'untestable' if c['holds'] is None else 'yes' if c['holds'] else 'no'} | {c['evidence']} |"
                  for c in found]
    if meta.get("upstream"):
        lines += ["", "## Upstream pre-training", "", "| checkpoint | best epoch | val F1 macro | upstream test F1 w | s |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {u['checkpoint']} | {u['best_epoch']} | {u['val_metric']:.3f} | {u['upstream_test_f1_weighted']:.3f}"
                  f" | {u['seconds']:.0f} |" for u in meta["upstream"]]
    lines += ["", "## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in figures]
    return "\n".join(lines) + "\n"


__all__ = ["DatasetSpec", "TransferConfig", "aggregate", "claims", "collect_results", "gains", "load_config",
           "report_only", "run_study", "shipped_configs", "subsample"]
