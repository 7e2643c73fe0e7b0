"""The HTML report of ``ecgadapt personalize``: before/after metrics, the guard's evidence, confusion matrices,
the RR Lorenz plot and ECG strips of the beats whose class the personalization changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgadapt._atomic import atomic_write_text
from ecgadapt.evaluation import confusion, format_score
from ecgadapt.holter import HolterSummary
from ecgadapt.report.html import markdown_page
from ecgadapt.report.plots import plot_confusions, plot_lorenz
from ecgadapt.report.recording import (class_strip, clock, glance_lines, holter_section, quality_section,
                                       removed_detections_strip, rhythm_section)
from ecgadapt.signal.quality import MATCH_TOLERANCE_S


def _metrics_table(scores: dict[str, Any], kept: str = "personalized") -> list[str]:
    """The AAMI figures of both models; where the guard kept the population model the patient's model is that one,
    so a second row of the same figures would read as a personalization: one row, said so."""
    lines = ["| model | beats | accuracy | macro F1 | VEB Se | VEB +P | VEB F1 | SVEB Se | SVEB +P | SVEB F1 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    names = ("population",) if kept == "population" else ("population", "personalized")
    for name in names:
        m = scores[name]
        v, s = m.get("V") or {}, m.get("S") or {}
        cells = [m["accuracy"], m["macro_f1"], v.get("se"), v.get("ppv"), v.get("f1"), s.get("se"), s.get("ppv"),
                 s.get("f1")]
        label = "population (kept: the personalization was rejected)" if kept == "population" else name
        lines.append(f"| {label} | {m['beats']} | " + " | ".join(format_score(c) for c in cells) + " |")
    return lines


def _false_detections_section(out: Path, patient: Any, classes: np.ndarray, summary: dict[str, Any],
                               removed: pd.DataFrame | None) -> list[str]:
    """What the labelled minutes showed about the detector's false detections (``personalize.false_detections``),
    with a strip of the first removed one (``removed``: ``false_detections.csv``'s rows; after the labelled minutes
    where the filter removed any)."""
    strip = out / "figures" / "false_detection.png"
    strip.unlink(missing_ok=True)  # an earlier run's into the same folder
    check = summary.get("false_detections")
    if not check or not check["labelled_detections"]:
        return []
    lines = ["", "## False detections", "",
             f"Of the R-peak detector's {check['labelled_detections']} beats in the {summary['labelled_window']}, "
             f"{check['false_in_labelled']} have no labelled beat within {MATCH_TOLERANCE_S * 1000:.0f} ms"
             + (f"; those {check['removed_labelled']} are removed." if check["removed_labelled"] else "."), ""]
    if check["used"]:
        lines.append(f"A filter learnt from them (logistic regression on the population model's beat features) "
                     f"removed **{check['removed_rest']}** detections {summary['rest_is']}: {check['reason']}. "
                     "They are listed in `false_detections.csv` and are in no other output.")
    else:
        lines.append(f"No filter {summary['rest_is']}: {check['reason']}.")
    if removed is not None and len(removed):
        by_filter = bool((removed.part == "rest").any())
        s = float(removed.time_s[removed.part == "rest"].iloc[0] if by_filter else removed.time_s.iloc[0])
        lines += removed_detections_strip(patient, classes, "personalized class", removed, strip.parent, s,
                                          "the first detection the filter removed" if by_filter else
                                          "the first detection with no labelled beat (removed)")
    return lines


#: seconds of ECG in a strip of a changed beat (the beat in its middle)
CHANGED_STRIP_S = 10.0


def changed_beats_shown(shown: np.ndarray, kinds: np.ndarray, by_count: list[str], time_s: np.ndarray,
                        most: int = 6) -> np.ndarray:
    """Up to ``most`` of the beats ``shown`` (indices into ``time_s``; their kinds of change: ``kinds``), in time
    order: the middle beat of each kind first, the most common kinds first (a rare kind, often a wrong change, is not
    crowded out by the common one), then beats spread evenly over the others, each the nearest to its place that lies in
    no other's strip."""
    of_kind = [np.flatnonzero(kinds == kind) for kind in by_count[:most]]
    pick = [int(shown[index[len(index) // 2]]) for index in of_kind]
    rest = np.setdiff1d(shown, pick)
    for target in np.linspace(0, len(rest) - 1, min(most - len(pick), len(rest))).astype(int) if len(rest) else []:
        nearest_first = rest[np.argsort(np.abs(np.arange(len(rest)) - target), kind="stable")]
        apart = next((i for i in nearest_first if np.abs(time_s[pick] - time_s[i]).min() >= CHANGED_STRIP_S), None)
        if apart is not None:  # a beat already picked lies 0 s from itself: never apart
            pick.append(int(apart))
    return np.sort(np.asarray(pick, dtype=np.int64))


def write_personalize_report(out: Path, patient: Any, table: pd.DataFrame, summary: dict[str, Any],
                             label_names: tuple[str, ...], holter: HolterSummary,
                             false_removed: pd.DataFrame | None = None,
                             rhythm_episodes: pd.DataFrame | None = None) -> Path:
    """``holter``: ``holter.holter_summary`` of the personalized classes, for its section; ``false_removed``: the
    removed false detections (``false_detections.csv``), if any."""
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    # an earlier run into the same folder
    for stale in [*figs.glob("changed_*.png"), figs / "confusion.png"]:  # the sections remove their own
        stale.unlink(missing_ok=True)
    rec = patient.record
    lines = [f"# Personalization of record `{rec.name}`", "",
             f"Method **{summary['method']}** ({', '.join(f'{k}={v}' for k, v in summary['params'].items()) or 'no parameters'}), "
             f"{summary['labelled_window']} labelled ({summary['labelled_beats']} beats), "
             f"{summary['beats']} beats in all ({summary['beat_source']} R peaks, lead {', '.join(summary['lead'])}). "
             f"Model kept: **{summary['kept']}**. {summary['changed_beats']} beats changed class."]
    lines += glance_lines(holter.totals, summary.get("rhythm")) + [""]
    for note in summary["notes"]:
        lines.append(f"- note: {note}")
    guard = summary["guard"]
    lines += ["", "## Negative-transfer guard", ""]
    if guard == "off":
        lines.append("Off (`--no-guard`): the personalized model is used without checking.")
    else:
        lines.append(f"Decision: **{guard['kept']}** — {guard['reason']}.")
        if guard["folds"]:
            lines += ["", "| held-out block | population errors | personalized errors | population macro F1 | personalized macro F1 |",
                      "|---|---:|---:|---:|---:|"]
            lines += [f"| {f['fold']} ({f['population']['beats']} beats) | {f['population']['errors']} | "
                      f"{f['personalized']['errors']} | {format_score(f['population']['macro_f1'])} | "
                      f"{format_score(f['personalized']['macro_f1'])} |" for f in guard["folds"]]
        cover = guard.get("coverage") or {}
        if cover.get("transitions"):
            lines += ["", f"Coverage of the unlabelled rest: {cover['changed']} predictions changed there, "
                      f"{cover['unsupported']} of a kind the held-out labelled beats never showed; expected net "
                      f"{cover['expected_net']:+.1f} beats (each change valued 2 × lb − 1, lb the lower bound of how "
                      "often that kind of change fixed a held-out beat; −1 if never seen).", "",
                      "| change (population → personalized) | in the rest | seen held out | of them fixes | lb |",
                      "|---|---:|---:|---:|---:|"]
            lines += [f"| {t.replace('->', ' → ')} | {v['rest']} | {v['seen']} | {v['fixed']} | {v['fixed_share_lb']:.2f} |"
                      for t, v in cover["transitions"].items()]
    lines += _false_detections_section(out, patient, table.personalized.to_numpy(), summary, false_removed)
    scores = summary["scores"]
    if "rest" in scores:
        lines += ["", f"## {summary['rest_is'].capitalize()} (reference annotations, "
                  f"{scores['rest']['population']['beats']} beats)",
                  "", "Beats the personalization never saw: the honest score.", ""] + _metrics_table(scores["rest"],
                                                                                           summary["kept"])
    against = summary.get("holter_against_reference")
    if against:
        labels = [c for c in ("V", "S") if f"{c}_per_100" in against["reference"]]
        lines += ["", f"Holter figures {summary['rest_is']}, against the reference annotations:", "",
                  "| model | " + " | ".join(f"{c} per 100 beats | {c} couplets | {c} runs" for c in labels) +
                  " | SDNN (ms) | RMSSD (ms) |", "|---|" + "---:|" * (3 * len(labels) + 2)]
        # an ectopic beat called N adds its two intervals to the N-N intervals: the classes move the HRV figures too
        lines += [f"| {who} | " + " | ".join(f"{t[f'{c}_per_100']:.2f} | {t[f'{c}_couplets']} | {t[f'{c}_runs']}"
                                             for c in labels) +
                  f" | {format_score(t['hrv']['sdnn_ms'], 1)} | {format_score(t['hrv']['rmssd_ms'], 1)} |"
                  for who, t in against.items() if not (who == "personalized" and summary["kept"] == "population")]
    if "labelled" in scores:
        lines += ["", "## Labelled minutes (in-sample for the personalized model)", ""] + _metrics_table(
            scores["labelled"], summary["kept"])
    ref = np.array([label_names.index(r) if r else -1 for r in table.reference])
    if (ref >= 0).any():
        rest = (table.part == "rest").to_numpy() & (ref >= 0)
        pop = np.array([label_names.index(c) for c in table.population])
        per = np.array([label_names.index(c) for c in table.personalized])
        if rest.any():
            plot_confusions({"population": confusion(ref[rest], pop[rest], len(label_names)),
                             "personalized": confusion(ref[rest], per[rest], len(label_names))}, label_names,
                            figs / "confusion.png", title=summary["rest_is"])
            lines += ["", "![confusion](figures/confusion.png)"]
    plot_lorenz(patient.sample, rec.fs, figs / "lorenz.png", labels=table.personalized.to_numpy(),
                title=f"{rec.name}: RR Lorenz plot, personalized classes")
    lines += ["", "## RR intervals", "", "![lorenz](figures/lorenz.png)"]
    personalized = table.personalized.to_numpy()
    lines += holter_section(patient, personalized, "personalized", holter, figs)
    lines += rhythm_section(patient, personalized, "personalized", summary.get("rhythm"), rhythm_episodes, figs)
    lines += quality_section(patient, personalized, "personalized", figs)
    changed = (table.population != table.personalized).to_numpy()
    if changed.any():
        # the labelled minutes' beats are what the model was adapted to: the changes worth a look are the rest's
        in_rest = changed & (table.part == "rest").to_numpy()
        shown = np.flatnonzero(in_rest if in_rest.any() else changed)
        kinds = (table.population.iloc[shown] + " → " + table.personalized.iloc[shown]).to_numpy()
        counts = pd.Series(kinds).value_counts()
        lines += ["", f"## Beats whose class changed ({int(changed.sum())}: {int(in_rest.sum())} {summary['rest_is']}, "
                      f"{int((changed & ~in_rest).sum())} in the labelled minutes; up to 6 shown, "
                      f"{summary['rest_is'] if in_rest.any() else 'in the labelled minutes'})", "",
                  "Kinds of change there: " + ", ".join(f"{kind} {n}" for kind, n in counts.items()) + ".", ""]
        time_s = table.time_s.to_numpy()
        for k, i in enumerate(changed_beats_shown(shown, kinds, counts.index.tolist(), time_s)):
            row = table.iloc[i]
            s = float(row.time_s)
            title = (f"{clock(s)} ({s:.1f} s): population {row.population} -> personalized {row.personalized}"
                     + (f" (reference {row.reference})" if row.reference else ""))
            class_strip(patient, personalized, "personalized class", figs / f"changed_{k}.png",
                        s - CHANGED_STRIP_S / 2, CHANGED_STRIP_S, title, highlight_s=s)
            lines.append(f"![{title}](figures/changed_{k}.png)")
    secs = summary["seconds"]
    lines += ["", f"Time: read and cut {secs['read_and_cut']} s · adapt {secs['adapt']} s · inference "
                  f"{secs['inference']} s · total {secs['total']} s.", "",
              f"Files: `{rec.name}.pred` (WFDB annotations: `wfdb.rdann('{rec.name}', 'pred')`), `beats.csv`, "
              "`hourly.csv`, `runs.csv`, `pauses.csv`, `personalized.pt`, `summary.json`" +
              (", `rhythm.csv`" if rhythm_episodes is not None else "") +
              (", `false_detections.csv`." if false_removed is not None and len(false_removed) else ".")]
    md = "\n".join(lines) + "\n"
    atomic_write_text(out / "report.md", md)
    return atomic_write_text(out / "report.html", markdown_page(f"ecgadapt: {rec.name}", md, out))
