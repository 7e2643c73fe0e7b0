"""The HTML reports of ``ecgadapt annotate``: of one recording (its Holter summary), and of several (one row a
recording, the ectopic burden plotted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_text
from ecgadapt.evaluation import format_score
from ecgadapt.holter import HolterSummary
from ecgadapt.report.html import markdown_page
from ecgadapt.report.plots import plot_burden
from ecgadapt.report.recording import (glance_lines, holter_section, quality_section, removed_detections_strip,
                                       rhythm_section)

CLASSES = ("N", "S", "V", "F", "Q")


def write_annotate_report(out: Path, summary: dict[str, Any]) -> Path:
    rows, options = summary["records"], summary["options"]
    done = [r for r in rows if r["status"] != "skipped"]
    filtered = any(r.get("false_detections_removed") is not None for r in done)  # the column where it says something
    lines = ["# Recordings annotated", "",
             f"Model `{summary['model']}` (sha256 {options['model_sha256'][:12]}…); beats {options['beats']}"
             + (f", lead {options['lead']}" if options["lead"] else "")
             + (", its false-detection filter switched off" if options.get("false_detection_filter") is False else "")
             + f". {summary['annotated']} recording(s) "
             f"annotated, {summary['skipped']} skipped. Burden: beats of the class per 100 beats. A recording's name "
             "links to its own report.", "",
             "| recording | status | hours | beats | " + " | ".join(CLASSES) + " | V per 100 | S per 100 | V runs | "
             "pauses | longest pause (s) | SDNN (ms) | AF burden (%) | poor-signal beats | " +
             ("false detections removed | " if filtered else "") + "seconds |",
             "|---|---|---:|---:|" + "---:|" * len(CLASSES) + "---:|" * (10 if filtered else 9)]
    for r in done:
        lines.append(f"| [{r['name']}]({r['name']}/report.html) | {r['status']} | {r['hours']:.2f} | {r['beats']} | "
                     + " | ".join(str(r["counts"].get(c, 0)) for c in CLASSES)
                     + f" | {r['v_per_100']:.2f} | {r['s_per_100']:.2f} | {format_score(r['v_runs'], 0)} | "
                     f"{format_score(r['pauses'], 0)} | {format_score(r['longest_pause_s'], 2)} | "
                     f"{format_score(r['sdnn_ms'], 1)} | {format_score(r.get('af_burden_percent'), 1)} | "
                     f"{r['poor_signal_beats']} | " +
                     (f"{format_score(r.get('false_detections_removed'), 0)} | " if filtered else "") +
                     f"{r['seconds']} |")
    figs = out / "figures"
    burden = figs / "burden.png"
    burden.unlink(missing_ok=True)  # an earlier run's
    if done:
        figs.mkdir(exist_ok=True)
        plot_burden([r["name"] for r in done], {"V": [r["v_per_100"] for r in done],
                                                 "S": [r["s_per_100"] for r in done]}, burden,
                    title="ectopic burden per recording")
        lines += ["", "![burden](figures/burden.png)"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    if skipped:
        lines += ["", f"## Skipped ({len(skipped)})", ""] + [f"- `{r['name']}`: {r['reason']}" for r in skipped]
    noted = [r for r in done if r["notes"]]
    if noted:
        lines += ["", "## Notes", ""] + [f"- `{r['name']}`: {note}" for r in noted for note in r["notes"]]
    md = "\n".join(lines) + "\n"
    atomic_write_text(out / "report.md", md)
    return atomic_write_text(out / "report.html", markdown_page("ecgadapt: recordings annotated", md, out))


def _false_detections_section(patient: Any, classes: np.ndarray, info: dict[str, Any],
                               removed: pd.DataFrame | None, figs: Path) -> list[str]:
    """What the filter of false detections the model carries did (``personalize.false_detections``), with a strip of
    the first detection it removed."""
    (figs / "false_detection.png").unlink(missing_ok=True)  # an earlier run's into the same folder
    found = info.get("false_detections")
    if not found or "check" not in found:  # none carried, or switched off
        return []
    check = found["check"]
    lines = ["", "## False detections", "",
             f"The model carries a filter of the R-peak detector's false detections, learnt from the labelled minutes "
             f"of `{found['learnt_on']}` on lead {', '.join(found['leads'])}; {check['reason']}."]
    if not found["applied"]:
        return lines + ["", f"It is not applied here: {found['reason']}."]
    lines += ["", f"It removed **{found['removed']}** of the detector's {found['detections']} beats here. They are "
              "listed in `false_detections.csv` and are in no other output. The filter was checked on that recording's "
              "labelled minutes, not on this one: look at the strip."]
    if removed is not None and len(removed):
        lines += removed_detections_strip(patient, classes, "predicted class", removed, figs,
                                          float(removed.time_s.iloc[0]), "the first detection the filter removed")
    return lines


def write_recording_report(out: Path, patient: Any, classes: np.ndarray, info: dict[str, Any],
                           holter: HolterSummary, false_removed: pd.DataFrame | None = None,
                           rhythm_episodes: pd.DataFrame | None = None) -> Path:
    """``ecgadapt annotate``'s report of one recording: what was read, the false detections removed
    (``false_removed``: ``false_detections.csv``'s rows), the Holter summary of the model's classes and the signal
    quality of detected beats."""
    figs = out / "figures"
    figs.mkdir(exist_ok=True)  # the sections remove an earlier run's figures of their own
    rec = patient.record
    lines = [f"# Annotation of recording `{rec.name}`", "",
             f"Model `{info['model']}`; {info['beats']} beats in {rec.duration_s / 3600:.2f} h ({info['beat_source']} "
             f"R peaks, lead {', '.join(info['lead'])}): " + " · ".join(f"{k} {v}" for k, v in info["counts"].items())
             + "."]
    lines += glance_lines(holter.totals, info.get("rhythm")) + [""]
    lines += [f"- note: {note}" for note in info["notes"]]
    lines += _false_detections_section(patient, classes, info, false_removed, figs)
    lines += holter_section(patient, classes, "predicted", holter, figs)
    lines += rhythm_section(patient, classes, "predicted", info.get("rhythm"), rhythm_episodes, figs)
    lines += quality_section(patient, classes, "predicted", figs)
    lines += ["", f"Files: `{rec.name}.pred` (WFDB annotations: `wfdb.rdann('{rec.name}', 'pred')`), `beats.csv`, "
                  "`hourly.csv`, `runs.csv`, `pauses.csv`" + (", `rhythm.csv`" if rhythm_episodes is not None else "") +
              (", `false_detections.csv`." if false_removed is not None and len(false_removed) else ".")]
    md = "\n".join(lines) + "\n"
    atomic_write_text(out / "report.md", md)
    return atomic_write_text(out / "report.html", markdown_page(f"ecgadapt: {rec.name}", md, out))
