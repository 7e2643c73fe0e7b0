"""Summary of ``ecgadapt study personalize``: gross AAMI table with patient-bootstrap intervals, per-patient gains,
patients made worse with and without the guard, wall time, and box plots per method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ecgadapt._atomic import atomic_write_text
from ecgadapt.evaluation import format_score
from ecgadapt.report.html import markdown_page
from ecgadapt.report.plots import plot_boxes


GUARD_LABEL = {"unguarded": "off", "guarded": "on", "guarded-heldout": "held-out check only", "gated": "gated",
               "deferred": "off, absent classes deferred"}


def _ci(row: dict[str, Any], key: str) -> str:
    lo, hi = row[key + "_ci"]
    return f"[{format_score(lo)}, {format_score(hi)}]"


def write_study_report(out: Path, table: pd.DataFrame, gross: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    methods = list(dict.fromkeys(table.method))
    variants = [v for v in ("guarded", "unguarded") if (table.variant == v).any()]
    gain_variant = variants[0]  # the guarded gains when the guard ran
    for variant in variants:
        t = table[table.variant == variant]
        plot_boxes({m: t[t.method == m].macro_f1.tolist() for m in methods}, figs / f"macro_f1_{variant}.png",
                   ylabel="per-patient macro F1 (N/S/V/F)", title=f"{meta['protocol']}: {variant}")
        plot_boxes({m: t[t.method == m].gain_macro_f1.tolist() for m in methods}, figs / f"gain_{variant}.png",
                   ylabel="macro F1 gain over the population model", title=f"per-patient gain, {variant}")
    lines = [f"# Personalization study: `{meta['protocol']}`", "", meta["description"], "",
             f"Population model `{Path(meta['population_model']).name}`; hyperparameters chosen on validation patients "
             f"{', '.join(meta['validation_patients'])} (unseen by the population model), never on test patients. "
             f"{len(meta['test_patients'])} test patients; first {meta['labelled_minutes']:g} min labelled, the rest "
             f"scored. Leads {' + '.join(meta.get('leads', ['MLII']))}"
             f"{'; records skipped (a lead missing): ' + ', '.join(meta['skipped_records']) if meta.get('skipped_records') else ''}. "
             f"Seed {meta['seed']}, {meta['threads']} torch thread(s).", "",
             "## Gross results (all test beats pooled; 95 % intervals: bootstrap over patients)", "",
             "| method | guard | accuracy | macro F1 | VEB Se | VEB +P | VEB F1 | SVEB Se | SVEB +P | SVEB F1 | worse | better | kept | s/patient (max) | trained weights |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in gross:
        scores = [format_score(r["accuracy"]), f"{format_score(r['macro_f1'])} {_ci(r, 'macro_f1')}",
                  format_score(r["veb_se"]), format_score(r["veb_ppv"]), f"{format_score(r['veb_f1'])} {_ci(r, 'veb_f1')}",
                  format_score(r["sveb_se"]), format_score(r["sveb_ppv"]),
                  f"{format_score(r['sveb_f1'])} {_ci(r, 'sveb_f1')}"]
        lines.append(f"| {r['method']} | {GUARD_LABEL[r['variant']]} | " + " | ".join(scores) + " | "
                     f"{r['patients_worse']}/{r['patients']} | "
                     f"{r['patients_better']} | {r['kept_personalized']} | {r['seconds_per_patient_mean']:.1f} "
                     f"({r['seconds_per_patient_max']:.1f}) | {r['trained_parameters_mean']:,.0f} |")
    lines += ["", "*worse / better*: patients with more / fewer misclassified test beats than the population model. "
              "*kept*: patients for whom the personalized model was used (always all without the guard; gated: patients "
              "with at least one vouched kind of change). *held-out check only*: the guard without its coverage check of "
              "the unlabelled rest (same run, for comparison). *gated*: the personalized prediction only where its change "
              "from the population prediction is of a kind (e.g. N -> S) the held-out labelled beats vouch for (lower "
              "confidence bound of the fixed share above one half), the population prediction elsewhere. *absent "
              "classes deferred*: without the guard, the population model's probabilities for the classes the "
              "labelled minutes do not show, the personalized model's for the others (kept: patients where that "
              "changed a prediction). Seconds: "
              "adaptation only without the guard; the guard's cross-validation plus the adaptation with it. "
              "*Trained weights*: mean number of weights the adaptation changed per patient.", "",
              f"## Per-patient macro F1 gain over the population model (guard {'on' if gain_variant == 'guarded' else 'off'})",
              ""]
    t = table[table.variant == gain_variant].pivot(index="patient", columns="method", values="gain_macro_f1")
    counts = ["labelled_S", "labelled_V", "test_S", "test_V"]
    # what the labelled minutes could teach: a class absent there has to come from the population model
    shown = table.drop_duplicates("patient").set_index("patient")[counts] if set(counts) <= set(table.columns) else None
    head = " S / V labelled | S / V test |" if shown is not None else ""
    lines += ["| patient |" + head + " " + " | ".join(t.columns) + " |",
              "|---|" + ("---:|---:|" if shown is not None else "") + "---:|" * len(t.columns)]
    for p, row in t.iterrows():
        cells = (f" {shown.at[p, 'labelled_S']} / {shown.at[p, 'labelled_V']} | {shown.at[p, 'test_S']} / "
                 f"{shown.at[p, 'test_V']} |") if shown is not None else ""
        lines.append(f"| {p} |{cells} " + " | ".join(f"{v:+.3f}" for v in row) + " |")
    lines += ["", "## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in sorted(figs.glob("*.png"))]
    lines += ["", "Chosen hyperparameters: " + "; ".join(f"{m}: {meta['chosen'][m] or 'defaults'}" for m in methods)]
    md = "\n".join(lines) + "\n"
    atomic_write_text(out / "summary.md", md)
    return atomic_write_text(out / "summary.html", markdown_page(f"Personalization study: {meta['protocol']}", md, out))
