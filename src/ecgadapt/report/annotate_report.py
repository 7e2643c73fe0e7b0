"""The HTML report of ``ecgadapt annotate`` over several recordings: one row a recording, the ectopic burden plotted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecgadapt._atomic import atomic_write_text
from ecgadapt.report.html import markdown_page
from ecgadapt.report.plots import plot_burden

CLASSES = ("N", "S", "V", "F", "Q")


def write_annotate_report(out: Path, summary: dict[str, Any]) -> Path:
    rows, options = summary["records"], summary["options"]
    done = [r for r in rows if r["status"] != "skipped"]
    lines = ["# Recordings annotated", "",
             f"Model `{summary['model']}` (sha256 {options['model_sha256'][:12]}…); beats {options['beats']}"
             + (f", lead {options['lead']}" if options["lead"] else "") + f". {summary['annotated']} recording(s) "
             f"annotated, {summary['skipped']} skipped. Burden: beats of the class per 100 beats.", "",
             "| recording | status | hours | beats | " + " | ".join(CLASSES) + " | V per 100 | S per 100 | "
             "poor-signal beats | seconds |",
             "|---|---|---:|---:|" + "---:|" * len(CLASSES) + "---:|---:|---:|---:|"]
    for r in done:
        lines.append(f"| [{r['name']}]({r['name']}/beats.csv) | {r['status']} | {r['hours']:.2f} | {r['beats']} | "
                     + " | ".join(str(r["counts"].get(c, 0)) for c in CLASSES)
                     + f" | {r['v_per_100']:.2f} | {r['s_per_100']:.2f} | {r['poor_signal_beats']} | {r['seconds']} |")
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
