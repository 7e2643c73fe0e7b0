"""Summary of ``ecgadapt study diffecg``: the generalization table (pooled and per test subject), the
personalization table (fixed t vs BO-chosen t, alternative objectives, full fine-tuning: accuracy, cost), box plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_text
from ecgadapt.report.html import markdown_page
from ecgadapt.report.plots import plot_boxes


def _f(x: Any) -> str:
    return "–" if x is None or x != x else f"{x:.3f}"


def generalization_lines(rows: list[dict[str, Any]], figs: Path) -> list[str]:
    lines = ["## Generalization: frozen pre-trained extractor + trained head (Table 1 analogue)", "",
             "Pre-trained on the source without labels; head trained on a patient-wise part of the target's subjects (a quarter of "
             "them for early stopping), tested on all other subjects. Multi-label targets: a label is predicted above "
             "probability 0.5, accuracy is the exact match. Per-subject column: median [min, max] over test "
             "subjects (with at least 5 items) of each subject's own macro F1.", ""]
    for exp in dict.fromkeys(r["experiment"] for r in rows):
        part = [r for r in rows if r["experiment"] == exp]
        lines += [f"### {exp}: {part[0]['source']} → {part[0]['target']}", "",
                  f"{part[0]['n_train']} training / {part[0]['n_val']} validation items, {part[0]['n_test']} test "
                  f"items ({len(part[0]['per_subject'])} test subjects with at least 5 items).", "",
                  "| variant | t | accuracy | macro F1 | weighted F1 | per-subject macro F1 | trained weights | s |",
                  "|---|---:|---:|---:|---:|---|---:|---:|"]
        boxes = {}
        for r in part:
            per = [v["f1_macro"] for v in r["per_subject"].values()]
            boxes[r["variant"]] = per
            spread = f"{_f(float(np.median(per)))} [{_f(min(per))}, {_f(max(per))}]" if per else "–"
            lines.append(f"| {r['variant']} | {r['t'] if r['t'] is not None else '–'} | {_f(r['accuracy'])} | "
                         f"{_f(r['f1_macro'])} | {_f(r['f1_weighted'])} | {spread} | {r['trained_parameters']:,} | "
                         f"{r['seconds']} |")
        lines.append("")
        if any(boxes.values()):
            plot_boxes(boxes, figs / f"generalization_{exp}.png", ylabel="per-subject macro F1",
                       title=f"{exp}: per test subject")
            lines += [f"![{exp}](figures/generalization_{exp}.png)", ""]
    return lines


def personalization_lines(table: pd.DataFrame) -> list[str]:
    t = table[table.variant == "unguarded"]
    lines = ["## Personalization: noise step t per subject (Tables 2–4 analogue)", "",
             "MIT-BIH DS2 patients; the first minutes of each record personalize, the rest are scored. `none` is the "
             "population `diffecg` model (t fixed, head trained on DS1). `diffecg-t:fixed_t=K` trains the head at t=K; "
             "`diffecg-t` chooses t by GP Bayesian optimisation of gamma, `objective=...` of an alternative objective; "
             "`finetune` trains every weight. Per-patient figures are means over patients.", "",
             "| method | mean macro F1 | median macro F1 | mean accuracy | patients worse | chosen t (median) | s/patient | trained weights |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in dict.fromkeys(t.method):
        r = t[t.method == m]
        chosen = r.chosen_t.dropna()
        lines.append(f"| {m} | {_f(r.macro_f1.mean())} | {_f(r.macro_f1.median())} | {_f(r.accuracy.mean())} | "
                     f"{int(r.worse.sum())}/{len(r)} | {int(chosen.median()) if len(chosen) else '–'} | "
                     f"{r.seconds.mean():.2f} | {r.trained_parameters.mean():,.0f} |")
    lines += ["", "Gross AAMI metrics with intervals, per-patient gains and box plots: "
              "[personalization/summary.html](personalization/summary.html).", "",
              "![per-patient macro F1](personalization/figures/macro_f1_unguarded.png)", ""]
    return lines


def modal_lines(rows: list[dict[str, Any]], experiment: str, figs: Path, ratio: float) -> list[str]:
    t = pd.DataFrame(rows)
    lines = [f"## Multi-modal personalization: t per subject and per modality ({experiment})", "",
             f"Test subjects of the generalization experiment; the first {ratio * 100:g} % of each subject's items (in time, records "
             "in order) "
             "personalize a fusion head, the rest are scored. `fixed-tK`: every modality at t = K. "
             "`bo-per-modality`: each modality's t chosen by GP-BO of γ on the personalization items. Macro F1 is "
             "over the classes present in a subject's scored part; with one class only it is that class's F1, so the "
             "subjects with at least two classes are also shown apart.", "",
             "| variant | subjects | mean macro F1 | median macro F1 | mean macro F1, ≥ 2 classes (subjects) | "
             "mean accuracy | median t per modality | s / subject |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    for v in dict.fromkeys(t.variant):
        r = t[t.variant == v]
        ts = pd.DataFrame(list(r.t))
        med = ", ".join(f"{m} {int(ts[m].median())}" for m in ts.columns)
        # rows written before the class count was recorded cannot say which subjects have two classes
        if "classes_test" in r:
            multi = r[r.classes_test >= 2]
            multi_cell = f"{_f(multi.f1_macro.mean()) if len(multi) else '–'} ({len(multi)})"
        else:
            multi_cell = "– (not recorded)"
        lines.append(f"| {v} | {len(r)} | {_f(r.f1_macro.mean())} | {_f(r.f1_macro.median())} | {multi_cell} | "
                     f"{_f(r.accuracy.mean())} | {med} | {r.seconds.mean():.1f} |")
    figure = f"modal_personalization-{experiment}.png"
    plot_boxes({v: t[t.variant == v].f1_macro.tolist() for v in dict.fromkeys(t.variant)}, figs / figure,
               ylabel="per-subject macro F1 (rest of the record)",
               title=f"{experiment}: fixed t vs t per modality")
    return lines + ["", f"![per-subject macro F1](figures/{figure})", ""]


def write_diffecg_report(out: Path, config: Any, general: list[dict[str, Any]], pers: pd.DataFrame | None,
                         summary: dict[str, Any], modal_rows: list[dict[str, Any]] | None = None) -> Path:
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    lines = [f"# DiffECG study: `{config.name}`", "", config.description, "",
             f"Seed {summary['seed']}, {summary['threads']} torch thread(s), {summary['wall_s']} s wall for this "
             "invocation (a resumed run reuses the parts already finished; their own seconds are in the tables). Diffusion: "
             f"T={config.pretrain.steps}, linear beta {config.pretrain.beta_start:g}..{config.pretrain.beta_end:g}, "
             f"UNet base {config.pretrain.base}, {config.pretrain.epochs} epochs"
             f"{f' of at most {config.pretrain.max_items} items' if config.pretrain.max_items else ''}; "
             f"extractors read at t={config.t}.", ""]
    if general:
        lines += generalization_lines(general, figs)
    for mp in config.modal_personalization:
        rows = [r for r in modal_rows or () if r["experiment"] == mp.experiment]
        if rows:
            lines += modal_lines(rows, mp.experiment, figs, mp.ratio)
    if pers is not None and len(pers):
        lines += personalization_lines(pers)
    md = "\n".join(lines) + "\n"
    atomic_write_text(out / "summary.md", md)
    return atomic_write_text(out / "summary.html", markdown_page(f"DiffECG study: {config.name}", md, out))
