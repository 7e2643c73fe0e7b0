"""The ``ecgadapt`` command: thin typer commands over the Python API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ecgadapt.errors import ConfigError, EcgAdaptError

app = typer.Typer(help="ecgadapt: personalized ECG diagnosis (population models adapted to one patient).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="PhysioNet databases: list, info, download, prepare, R-peak agreement.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")
population_app = typer.Typer(help="Population beat models (trained on other patients) that personalize starts from.",
                              no_args_is_help=True)
app.add_typer(population_app, name="population")
pretrain_app = typer.Typer(help="Self-supervised pre-training (no labels read).", no_args_is_help=True)
app.add_typer(pretrain_app, name="pretrain")
study_app = typer.Typer(help="Config-driven studies that write tables, figures and a summary.", no_args_is_help=True)
app.add_typer(study_app, name="study")
rhythm_app = typer.Typer(help="Rhythm models (normal, AF, other, noise): train, and classify short recordings.",
                         no_args_is_help=True)
app.add_typer(rhythm_app, name="rhythm")
console = Console()
#: the examples under each command's help (the embedded records work in a plain clone); "\b" keeps click's lines
EXAMPLES = {
    "personalize": "\b\nExamples:\n  ecgadapt personalize --record src/ecgadapt/data/embedded/mitdb/233 --labelled-minutes 5 --out p233\n"
                   "  ecgadapt personalize --record PATH/rec --labels review/review.csv --method l2sp --out p",
    "review": "\b\nExample:\n  ecgadapt review --record src/ecgadapt/data/embedded/mitdb/233 --budget 30 --strategy cluster --out review",
    "annotate": "\b\nExamples:\n  ecgadapt annotate --record src/ecgadapt/data/embedded/mitdb/232 --out a232\n"
                "  ecgadapt annotate --record DAY2.edf --model p233/personalized.pt --out day2\n"
                "  ecgadapt annotate --record FOLDER --out batch    (every recording below FOLDER; reruns resume)",
    "rhythm predict": "\b\nExample:\n  ecgadapt rhythm predict --folder PATH/challenge2017/training2017 --out rhythm-out",
    "rhythm personalize": "\b\nExample:\n  ecgadapt rhythm personalize --record PATH/mitdb/219 --out r219\n"
                          "  ecgadapt annotate --record PATH/mitdb/219 --rhythm-model r219/personalized_rhythm.pt --out a219",
}
RHYTHM_HELP = ("also classify the rhythm along the recording with a rhythm model: rhythm.csv (episodes), rhythm "
               "annotations in NAME.pred, the AF burden in summary.json and the report")
RHYTHM_MODEL_HELP = "rhythm model checkpoint (`ecgadapt rhythm train`) or a shipped one's name; default: the shipped one"
SEED_HELP = "random seed (0 or more): the same seed gives the same result on one processor and thread count"


def _print_version(value: bool) -> None:
    if value:
        from ecgadapt import __version__

        print(f"ecgadapt {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="print the version and exit")] = False) -> None:
    """ecgadapt: personalized ECG diagnosis (population models adapted to one patient)."""


def _fail(err: Exception) -> None:
    if isinstance(err, OSError):  # a full disk, a vanished folder: said plainly
        text = f"{err.filename}: {err.strerror}" if err.filename else (err.strerror or str(err))
    else:
        text = str(err)
    console.print(f"[red]error:[/red] {escape(text)}", soft_wrap=True)  # a path's "[" is no markup
    raise typer.Exit(2)


@data_app.command("list")
def data_list() -> None:
    """The registered dataset adapters."""
    from ecgadapt.data import get_adapter, list_adapters

    table = Table("name", "task", "labels", "description")
    for name in list_adapters():
        a = get_adapter(name)
        table.add_row(name, a.task, " ".join(a.label_names), a.description)
    console.print(table)


@data_app.command("info")
def data_info(name: str, path: Path, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Records, subjects, duration and label counts of a database folder."""
    from ecgadapt.data import get_adapter

    try:
        info = get_adapter(name).info(path)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    if as_json:
        print(json.dumps({"name": info.name, "root": str(info.root), "records": info.n_records,
                          "subjects": info.n_subjects, "duration_s": info.duration_s,
                          "class_counts": info.class_counts, "extra_counts": info.extra_counts,
                          "problems": info.problems, "notes": info.notes}, indent=2))
        return
    console.print(f"[bold]{info.name}[/bold] at {info.root}")
    console.print(f"records {info.n_records} · subjects {info.n_subjects} · duration {info.duration_s / 3600:.2f} h")
    table = Table("label", "count", title="label counts")
    for label, count in info.class_counts.items():
        table.add_row(str(label), f"{count:,}")
    table.add_row("[bold]total[/bold]", f"{sum(info.class_counts.values()):,}")
    console.print(table)
    for title, counts in info.extra_counts.items():
        console.print(f"{title}: " + " · ".join(f"{k} {v:,}" for k, v in counts.items()))
    for note in info.notes:
        console.print(f"note: {note}", markup=False)
    for problem in info.problems:
        console.print(f"[yellow]problem:[/yellow] {escape(problem)}")


@data_app.command("download")
def data_download(name: str, dest: Path,
                  base_url: Annotated[Optional[str], typer.Option(help="mirror instead of physionet.org/files")] = None,
                  only: Annotated[Optional[list[str]], typer.Option(help="glob of files to fetch (repeatable)")] = None) -> None:
    """Download a database from PhysioNet (SHA-256 checked, resumable)."""
    from ecgadapt.data.download import download_dataset

    try:
        report = download_dataset(name, dest, base_url=base_url, only=only)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    console.print(f"{report.url} -> {report.dest}: downloaded {len(report.downloaded)}, "
                  f"already there {len(report.skipped)}, failed {len(report.failed)}")
    for rel, why in report.failed.items():
        console.print(f"[red]failed[/red] {rel}: {why}")
    if report.failed:
        raise typer.Exit(1)


@data_app.command("prepare")
def data_prepare(name: str, path: Path,
                 protocol: Annotated[Optional[str], typer.Option(help="also write this protocol's split indices")] = None,
                 cache: Annotated[Optional[Path], typer.Option(help="cache folder (default $ECGADAPT_CACHE or ~/.cache/ecgadapt)")] = None,
                 task: Annotated[Optional[str], typer.Option(help="beats | windows (default: the database's)")] = None,
                 leads: Annotated[Optional[str], typer.Option(help="comma-separated lead names, e.g. MLII,V1")] = None,
                 fs: Annotated[Optional[float], typer.Option(help="resample to this rate (Hz)")] = None,
                 peaks: Annotated[Optional[str], typer.Option(help="annotated | detected (beats task)")] = None,
                 workers: Annotated[int, typer.Option(help="processes")] = 1) -> None:
    """Build the memory-mapped cache (progress bar); bad records are skipped and listed."""
    from dataclasses import replace

    from ecgadapt.data import get_adapter
    from ecgadapt.prepare import default_settings, prepare_dataset
    from ecgadapt.protocols import build_protocol

    try:
        settings = default_settings(name, task)
        changes = {k: v for k, v in {"leads": tuple(leads.split(",")) if leads else None, "target_fs": fs,
                                     "peaks": peaks}.items() if v is not None}
        settings = replace(settings, **changes)
        prepared, report = prepare_dataset(name, path, settings, cache_root=cache, workers=workers)
        console.print(f"{name}: {report.n_records} records ({report.prepared} prepared now, {report.reused} reused), "
                      f"{report.n_items:,} items -> {report.cache_dir}")
        console.print("classes: " + " · ".join(f"{k} {v:,}" for k, v in prepared.class_counts().items()))
        for d in report.dropped:
            console.print(f"[yellow]dropped[/yellow] {d['record']}: {d['reason']}")
        for f in report.failures:
            console.print(f"[red]skipped[/red] {f['error']}")
        if protocol:
            proto = build_protocol(protocol, name, get_adapter(name).records(path))
            indices = proto.indices(prepared)
            out = Path(report.cache_dir) / "protocols"
            proto.save(out / f"{protocol}.json")
            from ecgadapt._atomic import atomic_save_npz

            atomic_save_npz(out / f"{protocol}.npz", **indices)
            for split, idx in indices.items():
                console.print(f"  {protocol}/{split}: {len(idx):,} items, {len(proto.subjects(split))} subjects, "
                              + " · ".join(f"{k} {v:,}" for k, v in prepared.class_counts(idx).items()))
            if proto.missing_records:
                console.print(f"[yellow]records of the protocol not under {path}:[/yellow] {' '.join(proto.missing_records)}")
    except (EcgAdaptError, OSError) as err:
        _fail(err)


@data_app.command("peaks")
def data_peaks(name: str, path: Path,
               tolerance: Annotated[float, typer.Option(help="matching tolerance (s)")] = 0.150,
               out: Annotated[Optional[Path], typer.Option(help="write the per-record JSON here")] = None,
               lead: Annotated[int, typer.Option(help="lead number (0: the first)")] = 0,
               method: Annotated[str, typer.Option(help="neurokit (neurokit2's detector, complexes pointing down "
                                                        "included) | neurokit-upright (as neurokit2 ships it) | "
                                                        "pantompkins1985 | hamilton2002")] = "neurokit") -> None:
    """Agreement of an R-peak detector with the reference peaks (sensitivity, PPV)."""
    from ecgadapt._atomic import atomic_write_json, output_file
    from ecgadapt.prepare import evaluate_detector
    from ecgadapt.signal.peaks import R_PEAK_METHODS

    try:
        if out:
            output_file(out)
        if method not in R_PEAK_METHODS:
            raise ConfigError(f"--method {method!r}; allowed: {', '.join(R_PEAK_METHODS)}")
        result = evaluate_detector(name, path, tolerance_s=tolerance, lead=lead, method=method)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    console.print(f"{name}: {len(result['records'])} records, Se {result['sensitivity']:.4f}, "
                  f"PPV {result['ppv']:.4f} (TP {result['tp']:,}, FP {result['fp']:,}, FN {result['fn']:,}) "
                  f"at {tolerance * 1000:.0f} ms")
    for f in result["failures"]:
        console.print(f"[red]skipped[/red] {f['error']}")
    if out:
        atomic_write_json(out, result)


ANNOTATION_HELP = "extension of the record's beat annotation file (atr as in MIT-BIH; e.g. ari, ecg, qrs)"
OUTPUTS_HELP = ("comma-separated outputs to write (default all): model (personalize), annotations, beats, "
                "false-detections, holter, report, summary")


def _outputs(text: str | None) -> list[str] | None:
    return [o.strip() for o in text.split(",") if o.strip()] if text else None


BEATS_HELP = ("R peaks: auto (the annotated beats; the detector's before the first and after the last of them, for a "
              "record annotated only in part) | annotated | detected")


def _parse_leads(text: str) -> tuple[str, ...]:
    """"MLII, V1" -> ("MLII", "V1")."""
    return tuple(lead.strip() for lead in text.split(","))


@app.command(epilog=EXAMPLES["personalize"])
def personalize(record: Annotated[Path, typer.Option(help="WFDB record path without extension, e.g. PATH/233 "
                                                         "(PATH/233.hea works too), or an EDF/BDF or ISHNE (.ecg) "
                                                         "file (annotations in PATH/NAME.atr beside it, or an "
                                                         "ISHNE file's NAME.ann)")],
                out: Annotated[Path, typer.Option(help="output folder")],
                model: Annotated[Optional[Path], typer.Option(
                    help="population checkpoint, or a shipped model's name (default: beatnet-mitdb-svdb, MLII; "
                         "MIT-BIH only: beatnet-mitdb-ds1)")] = None,
                labelled_minutes: Annotated[Optional[float], typer.Option(
                    help="annotated minutes used to adapt [default: 5; with --labels: every beat the file labels, "
                         "wherever it lies, e.g. a review's]")] = None,
                labelled_start: Annotated[float, typer.Option(
                    help="minute of the record the labelled minutes start at (default: its start)")] = 0.0,
                method: Annotated[str, typer.Option(help="a registered strategy, e.g. finetune, l2sp, l2sp-synth, "
                                                         "pseudolabel (an unknown name lists them all)")] = "finetune",
                param: Annotated[Optional[list[str]], typer.Option(help="strategy parameter KEY=VALUE (repeatable)")] = None,
                guard: Annotated[bool, typer.Option(help="negative-transfer guard (keep the population model "
                                                         "unless the labelled minutes show a gain)")] = True,
                lead: Annotated[Optional[str], typer.Option(help="lead to use instead of the model's first lead (e.g. V5)")] = None,
                beats: Annotated[str, typer.Option(help=BEATS_HELP)] = "auto",
                population: Annotated[Optional[Path], typer.Option(help="MIT-BIH folder: population beats for "
                                                                        "dann/mmd/coral/maml/protonet")] = None,
                seed: Annotated[int, typer.Option(min=0, help=SEED_HELP)] = 0,
                reference: Annotated[Optional[Path], typer.Option(
                    help="model the guard compares against and falls back to (path or shipped name), e.g. "
                         "beatnet-mitdb-ds1 when --model reads MLII + V1")] = None,
                annotation: Annotated[str, typer.Option(help=ANNOTATION_HELP)] = "atr",
                labels: Annotated[Optional[Path], typer.Option(
                    help="a CSV file of beat labels in place of the annotation file: a sample (or time_s) column and a "
                         "label column (AAMI class or MIT-BIH symbol; empty: no label), e.g. annotate's beats.csv with "
                         "a reviewer's label column")] = None,
                false_detection_filter: Annotated[bool, typer.Option(
                    help="where beats come from the R-peak detector: remove the detections the labelled minutes show "
                         "to be no beats, and those a filter learnt from them calls no beats elsewhere, if held-out "
                         "labelled minutes show that it removes significantly more false detections than beats "
                         "(false_detections.csv)")] = True,
                outputs: Annotated[Optional[str], typer.Option(help=OUTPUTS_HELP)] = None,
                rhythm: Annotated[bool, typer.Option(help=RHYTHM_HELP)] = True,
                rhythm_model: Annotated[Optional[Path], typer.Option(help=RHYTHM_MODEL_HELP)] = None) -> None:
    """Adapt a population model to one patient, check it helped, annotate the whole record."""
    from ecgadapt.personalize.base import parse_params
    from ecgadapt.pipeline.personalize import personalize_record
    from ecgadapt.population.training import population_beats
    from ecgadapt.population.shipped import resolve_model

    try:
        params = parse_params(method, param or [], "--param")  # bad values fail before the population is read
        model_path = resolve_model(model)
        pop = population_beats(population, model_path) if population else None
        result = personalize_record(model_path, record, out, labelled_minutes=labelled_minutes,
                                    labelled_start=labelled_start, method=method,
                                    params=params, guard=guard, lead=lead, beats=beats,
                                    population=pop, seed=seed, cache_dir=out / ".meta-cache",
                                    reference_path=reference, annotation=annotation, labels=labels,
                                    false_detection_filter=false_detection_filter, outputs=_outputs(outputs),
                                    rhythm=rhythm, rhythm_model=rhythm_model)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    _print_personalize(result)


@app.command(epilog=EXAMPLES["review"])
def review(record: Annotated[Path, typer.Option(help="WFDB record path (NAME.hea works too), or an EDF/BDF or ISHNE "
                                                     "(.ecg) file")],
           out: Annotated[Path, typer.Option(help="output folder: review.csv, review.html")],
           model: Annotated[Optional[Path], typer.Option(help="checkpoint (a personalized.pt for a second round) or "
                                                              "a shipped model's name")] = None,
           budget: Annotated[int, typer.Option(min=1, help="beats to label")] = 30,
           strategy: Annotated[str, typer.Option(help="query strategy: cluster, kcenter, uncertainty, random, "
                                                      "first-minutes")] = "cluster",
           labels: Annotated[Optional[Path], typer.Option(
               help="review.csv of an earlier round: its labelled beats are not asked again, and kept")] = None,
           lead: Annotated[Optional[str], typer.Option(help="lead to use instead of the model's first lead")] = None,
           beats: Annotated[str, typer.Option(help=BEATS_HELP)] = "auto",
           seed: Annotated[int, typer.Option(min=0, help=SEED_HELP)] = 0) -> None:
    """Choose the beats a cardiologist should label: review.csv (fill its label column) and review.html (a 10-s strip
    of each); then `personalize --labels OUT/review.csv` adapts on exactly those beats."""
    from ecgadapt.pipeline.review import review_record
    from ecgadapt.population.shipped import resolve_model

    try:
        result = review_record(resolve_model(model), record, out, budget=budget, strategy=strategy, labels=labels,
                               lead=lead, beats=beats, seed=seed)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    for note in result.info["notes"]:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    console.print(f"{result.asked} beats to label -> {escape(str(result.out / 'review.csv'))} (fill its label column), "
                  f"{escape(str(result.out / 'review.html'))}")
    console.print(f"then: {escape(result.info['next_command'])}")


@app.command(epilog=EXAMPLES["annotate"])
def annotate(record: Annotated[list[Path], typer.Option(
                 metavar="PATH", help="WFDB record path without extension (NAME.hea works too), or an EDF/BDF or ISHNE "
                                      "(.ecg) file; "
                                      "repeat it, or give a folder (its sub-folders searched too), to annotate several "
                                      "recordings, each into OUT/NAME, a folder's into OUT/<its path in the folder> "
                                      "(a rerun resumes)")],
             out: Annotated[Path, typer.Option(help="output folder")],
             model: Annotated[Optional[Path], typer.Option(help="checkpoint (e.g. DIR/personalized.pt), a shipped "
                                                                "model's name, or an exported FILE.onnx (run by "
                                                                "onnxruntime)")] = None,
             lead: Annotated[Optional[str], typer.Option(help="lead to use instead of the model's first lead")] = None,
             beats: Annotated[str, typer.Option(help=BEATS_HELP)] = "auto",
             annotation: Annotated[str, typer.Option(help=ANNOTATION_HELP)] = "atr",
             false_detection_filter: Annotated[bool, typer.Option(
                 help="where the model carries a filter of the R-peak detector's false detections (learnt by "
                      "personalize from the labelled minutes) and beats are detected on its lead, remove the "
                      "detections it calls no beat (false_detections.csv)")] = True,
             outputs: Annotated[Optional[str], typer.Option(help=OUTPUTS_HELP + " (one recording)")] = None,
             rhythm: Annotated[bool, typer.Option(help=RHYTHM_HELP)] = True,
             rhythm_model: Annotated[Optional[Path], typer.Option(help=RHYTHM_MODEL_HELP)] = None) -> None:
    """Classify every beat of one or more (long) recordings with a personalized model, no adaptation: WFDB annotations
    (NAME.pred), beats.csv, the Holter summary (hourly.csv, runs.csv, pauses.csv), report.html and summary.json (the
    counts and the Holter totals, heart rate variability included)."""
    from ecgadapt.pipeline.annotate import annotate_record
    from ecgadapt.population.shipped import resolve_model

    if len(record) > 1 or record[0].is_dir():
        if outputs:
            _fail(ConfigError("--outputs: a batch writes every output (its resume checks them); it chooses outputs "
                              "of one recording"))
        _annotate_several(record, out, model, lead, beats, annotation, false_detection_filter, rhythm, rhythm_model)
        return
    try:
        info = annotate_record(resolve_model(model), record[0], out, lead=lead, beats=beats, annotation=annotation,
                               false_detection_filter=false_detection_filter, outputs=_outputs(outputs),
                               rhythm=rhythm, rhythm_model=rhythm_model)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    for note in info.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    console.print(f"{escape(info.name)}: {len(info.beats)} beats ({info.patient.beat_source} R peaks) in "
                  f"{info.seconds.total:.2f} s: " + " · ".join(f"{k} {v}" for k, v in info.counts.items())
                  + f" -> {escape(str(info.annotation_path))}")
    console.print(_holter_line(info.holter.totals))
    _print_rhythm(info.rhythm_summary)


def _print_rhythm(summary: dict | None) -> None:
    from ecgadapt.pipeline.rhythm import af_line

    if summary is not None:
        console.print(f"  Rhythm ({escape(Path(summary['model']).stem)}): {af_line(summary)}")


def _holter_line(totals: dict) -> str:
    """The Holter summary's headline figures, for the console."""
    from ecgadapt.evaluation import format_score
    from ecgadapt.holter import PAUSE_S

    hrv = totals.get("hrv") or {}
    return (f"  Holter: heart rate {format_score(totals['hr_mean'], 1)} bpm (minutes "
            f"{format_score(totals['hr_min_minute'], 1)}-{format_score(totals['hr_max_minute'], 1)}) · V "
            f"{totals.get('V_per_100', 0):.2f} per 100 beats, {totals.get('V_runs', 0)} V run(s) · S "
            f"{totals.get('S_per_100', 0):.2f} per 100 beats · {totals['pauses']} pause(s) of {PAUSE_S:g} s or more" +
            (f", the longest {totals['longest_pause_s']:.2f} s" if totals["pauses"] else "") +
            f" · SDNN {format_score(hrv.get('sdnn_ms'), 1)} ms, RMSSD {format_score(hrv.get('rmssd_ms'), 1)} ms")


def _annotate_several(records: list[Path], out: Path, model: Optional[Path], lead: Optional[str], beats: str,
                      annotation: str, false_detection_filter: bool, rhythm: bool,
                      rhythm_model: Optional[Path]) -> None:
    from ecgadapt.pipeline.batch import annotate_records, batch_names, records_in
    from ecgadapt.population.shipped import resolve_model

    try:
        paths, names = [], []
        for r in records:  # a folder's recordings go to OUT/<their path in it>, so that sub-folders cannot clash
            found = records_in(r) if r.is_dir() else [r]
            paths += found
            names += batch_names(found, r if r.is_dir() else None)
        summary = annotate_records(resolve_model(model), paths, out, lead=lead, beats=beats, annotation=annotation,
                                   false_detection_filter=false_detection_filter, names=names, rhythm=rhythm,
                                   rhythm_model=rhythm_model)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    for row in summary["records"]:
        if row["status"] == "skipped":
            console.print(f"[red]skipped[/red] {escape(row['name'])}: {escape(row['reason'])}", soft_wrap=True)
        else:
            burden = row.get("af_burden_percent")
            console.print(f"{row['name']} ({row['status']}): {row['beats']} beats ({row['beat_source']} R peaks), "
                          f"V {row['v_per_100']:.2f} and S {row['s_per_100']:.2f} per 100 beats" +
                          (f", AF burden {burden:.1f} %" if burden is not None else ""), markup=False)
    failed = len(summary["records"]) - summary["annotated"]
    skipped = f", {failed} skipped" if failed else ""
    console.print(f"{summary['annotated']} of {len(summary['records'])} recordings annotated{skipped} -> "
                  f"{out / 'report.html'}, {out / 'annotate_summary.json'}", markup=False)
    if not summary["annotated"]:  # a batch job that did nothing must not look like one that worked
        console.print("[red]error:[/red] no recording could be annotated (each one's reason is above)")
        raise typer.Exit(1)


def _print_personalize(result) -> None:
    from ecgadapt.evaluation import format_score

    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    guard_text = result.decision.reason if result.decision is not None else "guard off"
    console.print(f"{escape(result.name)}: {len(result.beats)} beats, method {result.method}, kept "
                  f"[bold]{result.kept}[/bold] ({escape(guard_text)})")
    rest = result.scores.get("rest", {})
    if result.kept == "population":  # the patient's model is the population one: one row, and the rejected one's case
        rest = {"population (kept)": rest["population"]} if rest else {}
        held = result.decision.personalized if result.decision is not None else {}
        if held:
            console.print(f"  the personalization was rejected: {held.get('errors')} errors on the held-out labelled "
                          f"beats against the population model's {result.decision.population.get('errors')}")
    for who, m in rest.items():
        console.print(f"  {who:>12}: accuracy {m['accuracy']:.4f}  macro F1 {format_score(m['macro_f1'])}  "
                      f"VEB F1 {format_score(m['V']['f1'])}  SVEB F1 {format_score(m['S']['f1'])}  "
                      f"({m['beats']} N/S/V/F beats {result.rest_is})")
    console.print(_holter_line(result.holter.totals) + " (the kept model's classes, whole record)")
    _print_rhythm(result.rhythm_summary)
    out = result.out
    console.print(f"  {round(result.seconds.total, 3)} s -> {out / 'report.html'}, {result.annotation_path}, "
                  f"{out / 'beats.csv'}", markup=False)


@app.command()
def export(model: Annotated[Path, typer.Argument(help="checkpoint (.pt) of a beat or rhythm model, or a shipped model's "
                                                      "name")],
           onnx: Annotated[Path, typer.Option("--onnx", help="the ONNX file to write")]) -> None:
    """Export a beat or rhythm model to ONNX (class probabilities out; window, rate, leads, RR feature order and
    classes in its metadata), for onnxruntime on a server, a phone or an edge box."""
    from ecgadapt.models.onnx_export import export_onnx, onnx_metadata

    try:
        path = model
        if not model.is_file():
            from ecgadapt.population.shipped import resolve_model
            from ecgadapt.rhythm.model import resolve_rhythm_model, shipped_rhythm_models

            path = resolve_rhythm_model(model) if str(model) in shipped_rhythm_models() else resolve_model(model)
        out = export_onnx(path, onnx)
        meta = onnx_metadata(out)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    console.print(f"{out}: {meta['task']} model, {meta['in_leads']} lead(s) x {meta['samples']} samples at "
                  f"{meta.get('fs')} Hz" + (f" + RR features {', '.join(meta['rr_features'])}" if meta["rr_features"]
                                            else "") + f" -> {', '.join(meta['label_names'])}", markup=False)


@pretrain_app.command("diffusion")
def pretrain_diffusion_cmd(dataset: Annotated[str, typer.Option(help="adapter name, e.g. cinc2017 or mitdb")],
                           data: Annotated[Path, typer.Option(help="the database folder")],
                           out: Annotated[Path, typer.Option(help="output folder (rerun to resume)")],
                           task: Annotated[Optional[str], typer.Option(help="beats | windows (default: the database's)")] = None,
                           records: Annotated[Optional[str], typer.Option(help="comma-separated records, or DS1")] = None,
                           epochs: Annotated[int, typer.Option()] = 10,
                           base: Annotated[int, typer.Option(help="UNet width")] = 32,
                           max_items: Annotated[Optional[int], typer.Option(help="items per epoch (random subset)")] = None,
                           seed: Annotated[int, typer.Option(min=0, help=SEED_HELP)] = 0) -> None:
    """DDPM pre-training of the 1-D UNet (T=1000, linear beta 1e-4..0.02, epsilon prediction) on unlabelled ECG."""
    from ecgadapt.diffecg.pretrain import PretrainConfig, pretrain_diffusion
    from ecgadapt.prepare import default_settings, prepare_dataset
    from ecgadapt.protocols import DS1

    try:
        names = DS1 if records == "DS1" else (tuple(records.split(",")) if records else None)
        prepared, _ = prepare_dataset(dataset, data, default_settings(dataset, task), workers=2, records=names)
        _, history = pretrain_diffusion(prepared.X, out, PretrainConfig(epochs=epochs, base=base, max_items=max_items,
                                                                        seed=seed))
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    console.print(f"{len(prepared):,} items, final loss {history[-1]['loss']:.4f} -> {out / 'unet.pt'}")


EXTRA_BEATS_HELP = ("DATASET:PATH, e.g. svdb:data/svdb or cpsc2021:data/cpsc2021 (repeatable): that database's "
                    "annotated beats (its stand-in for MLII: lead II, SVDB's ECG1) join the training beats; SVDB "
                    "brings supraventricular beats, CPSC 2021 beats in atrial fibrillation")
EXTRA_VALIDATION_HELP = ("share of each --extra-beats database's patients held out (patient-wise, seeded) to join the "
                         "validation patients, e.g. 0.2; 0: validation on MIT-BIH patients only")


def _methods(text: Optional[str], default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",")) if text else default


def _one_or_several(sources: Optional[list[str]]) -> str | tuple[str, ...] | None:
    """A repeatable --extra-beats as the library takes it: one spec (its card as before), several, or none."""
    if not sources:
        return None
    return sources[0] if len(sources) == 1 else tuple(sources)


PRETRAIN_HELP = ("DATASET:PATH, e.g. cinc2017:data/cinc2017: first pre-train the network to tell that database's "
                 "recording-level rhythms apart (CinC 2017: normal, AF, other) from single detected beats, then train "
                 "it on MIT-BIH with a fresh head")
RR_FEATURES_HELP = ("how many RR features the model reads: 4 (pre-, post-, local, average RR) or 5 (also the rhythm "
                    "irregularity around the beat, which tells an early beat in atrial fibrillation from a premature one)")


@population_app.command("list")
def population_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The population models shipped with the package: any of them is a --model name."""
    from ecgadapt.evaluation import format_score
    from ecgadapt.population.shipped import SHIPPED_MODEL, shipped_model_card, shipped_models
    from ecgadapt.population.card import extra_cards

    try:
        cards = {name: shipped_model_card(name) for name in shipped_models()}
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    rows = [{"name": name, "default": name == SHIPPED_MODEL, "model": card["model"], "leads": card["prep"]["leads"],
             "fs": card["fs"], "classes": card["classes"],
             # the card's train_records are the pool the validation patients were held out of
             "train_records": sorted(set(card["train_records"]) - set(card["val_records"])),
             "val_records": card["val_records"], "val_macro_f1": card["val_aami"]["macro_f1"],
             "val_veb_f1": card["val_aami"]["veb"]["f1"], "val_sveb_f1": card["val_aami"]["sveb"]["f1"],
             "card": f"{name}.md", "command": card["command"],
             # other databases' patients: trained on, and held out for validation
             "other_databases": {e["dataset"]: {"train_records": e.get("train_records", []),
                                                "val_records": e.get("val_records", [])}
                                 for e in extra_cards(card.get("extra_beats"))}} for name, card in cards.items()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "network", "leads", "Hz", "classes", "validation F1: macro / VEB / SVEB (each model's own "
                  "validation patients)")
    table.columns[0].no_wrap = True
    for r in rows:
        table.add_row(r["name"] + (" (default)" if r["default"] else ""), r["model"], ", ".join(r["leads"]),
                      f"{r['fs']:g}", " ".join(r["classes"]), f"{format_score(r['val_macro_f1'])} / "
                      f"{format_score(r['val_veb_f1'])} / {format_score(r['val_sveb_f1'])}")
    console.print(table)
    for r in rows:
        others = r["other_databases"]
        trained = " + ".join([f"{len(r['train_records'])} MIT-BIH records"] +
                             [f"{len(o['train_records'])} {db}" for db, o in others.items() if o["train_records"]])
        held = ", ".join(r["val_records"] + [f"{len(o['val_records'])} {db} patients" for db, o in others.items()
                                             if o["val_records"]])
        console.print(f"{r['name']}: trained on {trained}, validated on other patients ({held}); its card "
                      f"({r['card']}: command, data, seed, metrics) lies beside it in the package's assets/models",
                      soft_wrap=True)


@population_app.command("train")
def population_train(data: Annotated[Path, typer.Option(help="MIT-BIH folder (all 48 records)")],
                     out: Annotated[Path, typer.Option(help="checkpoint path (.pt); card written beside it")],
                     seed: Annotated[int, typer.Option(min=0, help=SEED_HELP)] = 0,
                     epochs: Annotated[int, typer.Option()] = 12,
                     leads: Annotated[str, typer.Option(help="comma-separated leads, e.g. MLII,V1; DS1 records "
                                                             "without one of them are left out")] = "MLII",
                     lead_dropout: Annotated[float, typer.Option(
                         help="probability of zeroing the leads after the first in a training beat (e.g. 0.3): the "
                              "model then also reads records without them (a flat channel in their place), and DS1 "
                              "records lacking them are kept")] = 0.0,
                     rr_features: Annotated[int, typer.Option(help=RR_FEATURES_HELP)] = 4,
                     extra_beats: Annotated[Optional[list[str]], typer.Option(help=EXTRA_BEATS_HELP)] = None,
                     extra_validation: Annotated[float, typer.Option(help=EXTRA_VALIDATION_HELP)] = 0.0,
                     pretrain: Annotated[Optional[str], typer.Option(help=PRETRAIN_HELP)] = None) -> None:
    """Train the population beat classifier on MIT-BIH DS1 (validation: held-out DS1 patients)."""
    import shlex
    import sys
    from dataclasses import replace

    from ecgadapt._atomic import output_file
    from ecgadapt.data import get_adapter
    from ecgadapt.evaluation import format_score
    from ecgadapt.protocols import DS1
    from ecgadapt.population.training import (DS1_VALIDATION, POPULATION_CONFIG, prepare_mitdb_beats,
                                              refuse_absent_records, train_population_model)
    from ecgadapt.population.shipped import missing_leads_for
    from ecgadapt.population.card import save_population_model, skipped_source_records

    try:
        output_file(out)  # before the training, not after it
        config = replace(POPULATION_CONFIG, epochs=epochs, lead_dropout=lead_dropout)  # checks the probability
        refuse_absent_records(data, sorted(set(DS1) - {r.name for r in get_adapter("mitdb").records(data)}),
                              "DS1 record(s)")
        prepared = prepare_mitdb_beats(data, leads=_parse_leads(leads),
                                       missing_leads=missing_leads_for(lead_dropout))
        left_out = sorted(set(DS1) - set(prepared.record_names))
        if left_out:
            console.print(f"DS1 records left out (lead missing): {', '.join(left_out)}")
        records = tuple(r for r in DS1 if r not in left_out)
        # the training's state, beside the model: a killed run resumes from its last epoch; gone once it is saved
        state = out.parent / f".{out.stem}.training"
        model, card = train_population_model(prepared, records, DS1_VALIDATION, seed=seed, config=config,
                                             rr_features=rr_features, extra_beats=_one_or_several(extra_beats),
                                             extra_validation=extra_validation, pretrain=pretrain, out_dir=state)
        command = "ecgadapt " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        save_population_model(model, card, prepared, out, command)
        shutil.rmtree(state, ignore_errors=True)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    for line in skipped_source_records(card):
        console.print(line)
    v = card["val_aami"]
    console.print(f"{out}: best epoch {card['best_epoch']}, validation macro F1 {format_score(v['macro_f1'])}, "
                  f"VEB F1 {format_score(v['V']['f1'])}, SVEB F1 {format_score(v['S']['f1'])}")


@rhythm_app.command("train")
def rhythm_train(cinc2017: Annotated[Path, typer.Option(help="CinC 2017 folder (training2017/ with REFERENCE.csv)")],
                 out: Annotated[Path, typer.Option(help="checkpoint path (.pt); its card (.json, .md) beside it")],
                 mitdb: Annotated[Optional[Path], typer.Option(
                     help="MIT-BIH folder: its DS1 records' rhythm episodes (MLII) join the training; DS2 stays "
                          "out for evaluation")] = None,
                 seed: Annotated[int, typer.Option(min=0, help=SEED_HELP)] = 0,
                 epochs: Annotated[Optional[int], typer.Option(min=1, help="at most this many epochs")] = None) -> None:
    """Train a rhythm model on CinC 2017 (patient-wise split; the epoch chosen on validation recordings only)."""
    import shlex
    import sys
    from dataclasses import replace

    from ecgadapt._atomic import output_file
    from ecgadapt.rhythm.training import RHYTHM_TRAIN_CONFIG, train_rhythm_model

    try:
        output_file(out)  # before the training, not after it
        config = RHYTHM_TRAIN_CONFIG if epochs is None else replace(RHYTHM_TRAIN_CONFIG, epochs=epochs)
        state = out.parent / f".{out.stem}.training"  # a killed run resumes from its last epoch; gone once saved
        command = "ecgadapt " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        card = train_rhythm_model(cinc2017, out, mitdb=mitdb, seed=seed, config=config, command=command,
                                  work_dir=state)
        shutil.rmtree(state, ignore_errors=True)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    v, t = card["val"], card["test"]
    console.print(f"{out}: best epoch {card['best_epoch']}; CinC 2017 challenge score (mean F1 of N, AF, O): "
                  f"validation {v['challenge_score']:.3f} ({v['recordings']} recordings), test "
                  f"{t['challenge_score']:.3f} ({t['recordings']} recordings)")


@rhythm_app.command("predict", epilog=EXAMPLES["rhythm predict"])
def rhythm_predict(out: Annotated[Path, typer.Option(help="output folder: rhythm_predictions.csv, skipped.csv")],
                   record: Annotated[Optional[list[Path]], typer.Option(
                       metavar="PATH", help="a recording (WFDB record path, NAME.hea, EDF/BDF or ISHNE); repeat it "
                                            "for several")] = None,
                   folder: Annotated[Optional[Path], typer.Option(
                       help="a folder of recordings (sub-folders searched too); a REFERENCE.csv in it (CinC 2017 "
                            "style: NAME,LABEL) adds a reference column and the score, and is optional")] = None,
                   model: Annotated[Optional[Path], typer.Option(help=RHYTHM_MODEL_HELP)] = None) -> None:
    """Classify the rhythm of short recordings (CinC 2017 style): one row a recording, its class and probabilities
    from all its 10-s windows."""
    from ecgadapt._atomic import atomic_write_text, output_folder
    from ecgadapt.pipeline.batch import records_in
    from ecgadapt.rhythm.model import load_rhythm_model, resolve_rhythm_model
    from ecgadapt.rhythm.predict import challenge_score, predict_recordings, reference_labels

    try:
        if bool(record) == (folder is not None):
            raise ConfigError("give --record (one or more) or --folder, not both and not neither")
        out = output_folder(out)
        path = resolve_rhythm_model(model)
        net, meta = load_rhythm_model(path)
        if folder is not None:
            if not folder.is_dir():
                raise ConfigError(f"{folder}: no such folder")
            paths = records_in(folder)
            labels = {}
            for where in dict.fromkeys([folder, *(p.parent for p in paths)]):
                labels.update(reference_labels(where))
        else:
            paths, labels = list(record or []), {}
        if not paths:
            raise ConfigError(f"{folder}: no recording found (WFDB headers, EDF/BDF or ISHNE files)")
        table, skipped = predict_recordings(paths, net, meta, labels=labels or None)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "rhythm_predictions.csv", table.to_csv(index=False))
        skipped_csv = out / "skipped.csv"
        if skipped:
            import pandas as pd

            atomic_write_text(skipped_csv, pd.DataFrame(skipped).to_csv(index=False))
        else:
            skipped_csv.unlink(missing_ok=True)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    for row in skipped:
        console.print(f"[red]skipped[/red] {escape(row['record'])}: {escape(row['reason'])}", soft_wrap=True)
    if len(table):
        counts = table.rhythm.value_counts()
        console.print(f"{len(table)} of {len(paths)} recordings classified ({path.stem}): " +
                      " · ".join(f"{c} {int(counts.get(c, 0))}" for c in meta["label_names"]) +
                      f" -> {out / 'rhythm_predictions.csv'}", markup=False)
        score = challenge_score(table)
        if score:
            console.print(f"against {score['recordings']} reference labels: F1 " +
                          " · ".join(f"{c} {v:.3f}" for c, v in score["f1"].items()) +
                          f"; mean of N, AF, O {score['score']:.3f}", markup=False)
    if not len(table):
        console.print("[red]error:[/red] no recording could be classified (each one's reason is above)")
        raise typer.Exit(1)


@rhythm_app.command("personalize", epilog=EXAMPLES["rhythm personalize"])
def rhythm_personalize(record: Annotated[Path, typer.Option(help="WFDB record path with rhythm annotations (aux notes "
                                                                 "\"(N\", \"(AFIB\", ...) in its .atr")],
                       out: Annotated[Path, typer.Option(help="output folder: personalized_rhythm.pt, "
                                                              "rhythm_personalize.json")],
                       model: Annotated[Optional[Path], typer.Option(help=RHYTHM_MODEL_HELP)] = None,
                       labelled_share: Annotated[float, typer.Option(
                           help="the first share of the recording's time whose rhythm labels adapt the model (the "
                                "DiffECG paper's protocol: 0.1)")] = 0.1,
                       labelled_minutes: Annotated[Optional[float], typer.Option(
                           help="the first minutes instead of a share")] = None,
                       method: Annotated[str, typer.Option(help="personalization strategy (finetune, l2sp, ...)")]
                       = "finetune",
                       param: Annotated[Optional[list[str]], typer.Option(help="strategy parameter KEY=VALUE")] = None,
                       guard: Annotated[bool, typer.Option(help="keep the population rhythm model unless held-out "
                                                                "labelled windows show the adapted one is better")]
                       = True,
                       lead: Annotated[Optional[str], typer.Option(help="lead to read (default: MLII, II, ...)")] = None,
                       seed: Annotated[int, typer.Option(min=0, help=SEED_HELP)] = 0,
                       labels: Annotated[Optional[Path], typer.Option(
                           help="a CSV of rhythm episodes (start_s, end_s, rhythm: annotate's rhythm.csv corrected by "
                                "a reviewer) in place of the annotation file's rhythm notes")] = None) -> None:
    """Adapt the rhythm model to one patient on the first part of a recording's rhythm annotations, behind the
    guard; `annotate --rhythm-model OUT/personalized_rhythm.pt` then runs it over the patient's recordings."""
    from ecgadapt.personalize.base import parse_params
    from ecgadapt.pipeline.rhythm import personalize_rhythm_record

    try:
        params = parse_params(method, param or [], "--param")
        summary = personalize_rhythm_record(record, out, rhythm_model=model, labelled_share=labelled_share,
                                            labelled_minutes=labelled_minutes, method=method, params=params,
                                            guard=guard, lead=lead, seed=seed, labels=labels)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    decision = summary["guard"]
    console.print(f"{escape(Path(summary['record']).name)}: first {summary['labelled_s'] / 60:.1f} min labelled "
                  f"({', '.join(f'{c} {n}' for c, n in summary['labelled_windows'].items() if n)} windows), method "
                  f"{method}, kept [bold]{summary['kept']}[/bold]" +
                  (f" ({escape(decision['reason'])})" if isinstance(decision, dict) else " (guard off)"))
    for who, s in (summary["rest_scores"] or {}).items():
        console.print(f"  {who:>12}: window accuracy {s['accuracy']:.3f} on the {s['windows']} annotated windows after "
                      "the labelled time")
    console.print(f"  -> {summary['model']}", markup=False)


@study_app.command("transfer")
def study_transfer(config: Annotated[str, typer.Option(help="shipped config name (smoke, here, here-mitdb-rhythm, full) or a .toml path")],
                   data: Annotated[Path, typer.Option(help="folder holding the databases named in the config")],
                   out: Annotated[Path, typer.Option(help="output folder (rerun to resume)")],
                   quiet: Annotated[bool, typer.Option(help="no per-epoch progress bars")] = False,
                   threads: Annotated[Optional[int], typer.Option(help="torch threads (default: all cores)")] = None,
                   report_only: Annotated[bool, typer.Option(help="only rewrite tables/figures/summary from the "
                                                                  "runs finished so far")] = False) -> None:
    """Fine-tuning vs training from scratch (Nguyen & Do 2025): grid, size sweep, figures, summary."""
    import torch

    from ecgadapt.studies import transfer

    if threads:
        torch.set_num_threads(threads)
    try:
        cfg = transfer.load_config(config)
        results = (transfer.report_only(cfg, data, out) if report_only else
                   transfer.run_study(cfg, data, out, progress=not quiet, log=console.print))
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    console.print(f"{len(results)} runs -> {out / 'results.csv'}, {out / 'summary.html'}")


@study_app.command("diffecg")
def study_diffecg(config: Annotated[str, typer.Option(help="shipped config name (smoke, here) or a .toml path")],
                  data: Annotated[Path, typer.Option(help="folder holding the databases named in the config")],
                  out: Annotated[Path, typer.Option(help="output folder (rerun to resume)")],
                  quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
                  threads: Annotated[Optional[int], typer.Option(help="torch threads (default: all cores)")] = None) -> None:
    """DiffECG (Zhou et al. 2025): diffusion pre-training, multi-modal fusion, SimCLR/MoCo/CLOCS and supervised
    baselines (generalization), per-subject noise-step personalization (fixed t vs BO on gamma and alternatives)."""
    import torch

    from ecgadapt.studies import diffecg

    if threads:
        torch.set_num_threads(threads)
    try:
        diffecg.run_study(diffecg.load_config(config), data, out, progress=not quiet, log=console.print)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    console.print(f"-> {out / 'summary.html'}, {out / 'summary.md'}")


@study_app.command("personalize")
def study_personalize(data: Annotated[Path, typer.Option(help="MIT-BIH folder (all 48 records); for "
                                                            "svdb-personalized the SVDB folder")],
                      out: Annotated[Path, typer.Option(help="output folder")],
                      protocol: Annotated[str, typer.Option(help="mitdb-ds2-personalized | mitdb-patient-specific | "
                                                                 "svdb-personalized")] = "mitdb-ds2-personalized",
                      mitdb: Annotated[Optional[Path], typer.Option(
                          help="svdb-personalized: the MIT-BIH folder whose DS1 joins each fold's population")] = None,
                      folds: Annotated[int, typer.Option(help="svdb-personalized: folds of patients (each fold's "
                                                              "population model is trained without them)")] = 4,
                      methods: Annotated[Optional[str], typer.Option(
                          help="comma-separated methods (default: every registered strategy that personalizes "
                               "any model: studies.personalize.DEFAULT_METHODS)")] = None,
                      labelled_minutes: Annotated[float, typer.Option()] = 5.0,
                      patients: Annotated[Optional[str], typer.Option(help="comma-separated test records (default all)")] = None,
                      seed: Annotated[int, typer.Option(min=0, help=SEED_HELP)] = 0,
                      model: Annotated[Optional[Path], typer.Option(help="population model of your own (default: the protocol's)")] = None,
                      guard: Annotated[bool, typer.Option(help="also run every method behind the negative-transfer guard")] = True,
                      threads: Annotated[Optional[int], typer.Option(help="torch threads (default: all cores)")] = None,
                      leads: Annotated[str, typer.Option(help="leads of the population model the study trains "
                                                              "(mitdb-patient-specific), e.g. MLII,V1")] = "MLII",
                      lead_dropout: Annotated[float, typer.Option(help="lead dropout of that model (see `population "
                                                                       "train`)")] = 0.0,
                      rr_features: Annotated[int, typer.Option(help="RR features of that model: " + RR_FEATURES_HELP)] = 4,
                      extra_beats: Annotated[Optional[list[str]], typer.Option(
                          help="for that model: " + EXTRA_BEATS_HELP)] = None,
                      pretrain: Annotated[Optional[str], typer.Option(help="for that model: " + PRETRAIN_HELP)] = None,
                      reference: Annotated[Optional[Path], typer.Option(
                          help="model the guard compares against and falls back to (path or shipped name), e.g. "
                               "beatnet-mitdb-ds1 when --model reads MLII + V1")] = None,
                      selection: Annotated[Optional[str], typer.Option(
                          help="active personalization instead: comma-separated query strategies (first-minutes, "
                               "random, uncertainty, cluster, kcenter), a simulated reviewer labelling the beats each "
                               "asks for (mitdb-ds2-personalized or mitdb-patient-specific; one method, default the "
                               "L2-SP the study chose on the protocol's validation patients)")] = None,
                      budget: Annotated[str, typer.Option(
                          help="with --selection: labelled beats a patient at which each is scored")] = "10,20,40",
                      guard_min_beats: Annotated[int, typer.Option(
                          help="with --selection and --guard: the guard's smallest fold of queried beats")] = 5) -> None:
    """Every method on every test patient: per-patient and gross AAMI metrics, guard on and off, box plots.
    A method may fix parameters: ``diffecg-t:fixed_t=20``."""
    import torch

    from ecgadapt.studies.personalize import DEFAULT_METHODS, run_personalize_study

    if threads:
        torch.set_num_threads(threads)
    try:
        if selection:
            from ecgadapt.studies.active import run_active_study

            if model or reference or extra_beats or pretrain:
                raise ConfigError("--selection uses the protocol's population model: --model, --reference, "
                                  "--extra-beats and --pretrain do not apply")
            try:
                budgets = tuple(int(b) for b in budget.split(","))
            except ValueError:
                raise ConfigError(f"--budget {budget!r}: comma-separated numbers of beats, e.g. 10,20,40") from None
            run_active_study(data, out, protocol=protocol, queries=tuple(selection.split(",")), budgets=budgets,
                             method=methods, guard=guard, guard_min_beats=guard_min_beats,
                             seed=seed, patients=tuple(patients.split(",")) if patients else None)
            console.print(f"-> {out / 'summary.md'}, {out / 'per_patient.csv'}, {out / 'gross.json'}")
            return
        if protocol == "svdb-personalized":
            from ecgadapt.studies.personalize_svdb import SVDB_METHODS, run_svdb_personalize_study

            if mitdb is None:
                raise ConfigError("svdb-personalized: give --mitdb PATH, the MIT-BIH folder whose DS1 joins each "
                                  "fold's population (--data is the SVDB folder)")
            if model or reference or pretrain or leads != "MLII" or lead_dropout or rr_features != 4:
                raise ConfigError("svdb-personalized trains its own population model per fold: --model, --reference, "
                                  "--pretrain, --leads, --lead-dropout and --rr-features do not apply")
            run_svdb_personalize_study(data, mitdb, out, methods=_methods(methods, SVDB_METHODS),
                                       labelled_minutes=labelled_minutes, seed=seed, folds=folds,
                                       patients=tuple(patients.split(",")) if patients else None, guard=guard,
                                       extra_beats=tuple(extra_beats or ()), log=console.print)
        else:
            run_personalize_study(data, out, protocol=protocol, methods=_methods(methods, DEFAULT_METHODS),
                                  labelled_minutes=labelled_minutes, seed=seed,
                                  patients=tuple(patients.split(",")) if patients else None, model_path=model,
                                  guard=guard, leads=_parse_leads(leads),
                                  lead_dropout=lead_dropout, rr_features=rr_features,
                                  extra_beats=_one_or_several(extra_beats), pretrain=pretrain,
                                  reference_path=reference)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    console.print(f"-> {out / 'summary.html'}, {out / 'per_patient.csv'}, {out / 'gross.json'}")


@app.command()
def demo(out: Annotated[Path, typer.Option(help="output folder")] = Path("demo-out"),
         record: Annotated[str, typer.Option(help="embedded MIT-BIH record: 200, 213, 232 or 233")] = "233") -> None:
    """The main job on an embedded MIT-BIH DS2 record with the shipped population model (no download needed)."""
    from ecgadapt.demo import run_demo

    try:
        result = run_demo(out, record)
    except (EcgAdaptError, OSError) as err:
        _fail(err)
    _print_personalize(result)


if __name__ == "__main__":
    app()
