"""The ``ecgadapt`` command: thin typer commands over the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ecgadapt.errors import EcgAdaptError

app = typer.Typer(help="ecgadapt: personalized ECG diagnosis (population models adapted to one patient).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="PhysioNet databases: list, info, download, prepare, R-peak agreement.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")
study_app = typer.Typer(help="Config-driven studies that write tables, figures and a summary.", no_args_is_help=True)
app.add_typer(study_app, name="study")
console = Console()


def _fail(err: Exception) -> None:
    console.print(f"[red]error:[/red] {err}", soft_wrap=True)
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
    except EcgAdaptError as err:
        _fail(err)
    if as_json:
        print(json.dumps({"name": info.name, "root": str(info.root), "records": info.n_records,
                          "subjects": info.n_subjects, "duration_s": info.duration_s,
                          "class_counts": info.class_counts, "extra_counts": info.extra_counts,
                          "problems": info.problems}, indent=2))
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
    for problem in info.problems:
        console.print(f"[yellow]problem:[/yellow] {problem}")


@data_app.command("download")
def data_download(name: str, dest: Path,
                  base_url: Annotated[Optional[str], typer.Option(help="mirror instead of physionet.org/files")] = None,
                  only: Annotated[Optional[list[str]], typer.Option(help="glob of files to fetch (repeatable)")] = None) -> None:
    """Download a database from PhysioNet (SHA-256 checked, resumable)."""
    from ecgadapt.data.download import download_dataset

    try:
        report = download_dataset(name, dest, base_url=base_url, only=only)
    except EcgAdaptError as err:
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
    except EcgAdaptError as err:
        _fail(err)


@data_app.command("peaks")
def data_peaks(name: str, path: Path,
               tolerance: Annotated[float, typer.Option(help="matching tolerance (s)")] = 0.150,
               out: Annotated[Optional[Path], typer.Option(help="write the per-record JSON here")] = None) -> None:
    """Agreement of neurokit2's R-peak detector with the reference peaks (sensitivity, PPV)."""
    from ecgadapt._atomic import atomic_write_json
    from ecgadapt.prepare import evaluate_detector

    try:
        result = evaluate_detector(name, path, tolerance_s=tolerance)
    except EcgAdaptError as err:
        _fail(err)
    console.print(f"{name}: {len(result['records'])} records, Se {result['sensitivity']:.4f}, "
                  f"PPV {result['ppv']:.4f} (TP {result['tp']:,}, FP {result['fp']:,}, FN {result['fn']:,}) "
                  f"at {tolerance * 1000:.0f} ms")
    for f in result["failures"]:
        console.print(f"[red]skipped[/red] {f['error']}")
    if out:
        atomic_write_json(out, result)


@study_app.command("transfer")
def study_transfer(config: Annotated[str, typer.Option(help="shipped config name (smoke, here, here-mitdb-rhythm, full) or a .toml path")],
                   data: Annotated[Path, typer.Option(help="folder holding the databases named in the config")],
                   out: Annotated[Path, typer.Option(help="output folder (rerun to resume)")],
                   quiet: Annotated[bool, typer.Option(help="no per-epoch progress bars")] = False,
                   threads: Annotated[Optional[int], typer.Option(help="torch threads (default: all cores)")] = None) -> None:
    """Fine-tuning vs training from scratch (Nguyen & Do 2025): grid, size sweep, figures, summary."""
    import torch

    from ecgadapt.studies.transfer import load_config, run_study

    if threads:
        torch.set_num_threads(threads)
    try:
        results = run_study(load_config(config), data, out, progress=not quiet, log=console.print)
    except EcgAdaptError as err:
        _fail(err)
    console.print(f"{len(results)} runs -> {out / 'results.csv'}, {out / 'summary.html'}")


@app.command()
def demo(out: Annotated[Path, typer.Option(help="output folder")] = Path("demo-out")) -> None:
    """The main job on the embedded MIT-BIH records (no download needed)."""
    from ecgadapt.demo import run_demo

    try:
        run_demo(out, console)
    except EcgAdaptError as err:
        _fail(err)


if __name__ == "__main__":
    app()
