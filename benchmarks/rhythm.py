"""The shipped rhythm model, measured: CinC 2017 recordings it was not trained on, AF on MIT-BIH DS2 and on the CPSC
2021 sample recordings second by second (beside the RR-irregularity screen measured on the same records), and the
time the rhythm step adds to a 24-hour Holter.

    python benchmarks/rhythm.py --data DIR [--model resnet1d18-rhythm] [--out benchmarks/results/rhythm.json]

DIR is ../shared/data unpacked (challenge2017/, mitdb/, samples/cpsc2021_samples/). Nothing here chooses anything: the
model, its epoch (CinC 2017 validation recordings) and the episode rules (``ecgadapt.rhythm.analysis``, fixed from the
ESC guidelines before any result) were fixed before this ran. Every figure goes through the product's own path:
``rhythm predict``'s ``predict_recordings`` for short recordings, ``annotate_record`` (outputs rhythm and summary) for
the long ones.

- CinC 2017: the model card's test recordings (10 %, split seed 0, patient-wise: one recording a patient), and its
  validation recordings for comparison. Per-class F1 and the challenge score, the mean F1 of N, AF and O.
- MIT-BIH DS2: the found AF episodes against the annotated "(AFIB" second by second, as
  ``benchmarks/irregular_rhythm.py`` scores its screen (whose per-record rows are read from
  ``benchmarks/results/irregular_rhythm.json`` for the same records). Record 202 is the same patient as DS1's 201,
  which the model was trained on: the pooled figures are given with and without it. Atrial flutter ("(AFL") is
  trained as AF; found time in it counts as false AF against "(AFIB" and is given apart.
- CPSC 2021 samples: lead II, as annotated there ("(AFIB" / "(AFL").
- Speed: a 24-hour recording made of MIT-BIH 100's MLII repeated 48 times, the rhythm step alone (reading excluded).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from ecgadapt._atomic import atomic_write_json
from ecgadapt._progress import progress_bar
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.population.shipped import shipped_model_path
from ecgadapt.protocols import DS2
from ecgadapt.rhythm.analysis import analyse_rhythm
from ecgadapt.rhythm.model import SHIPPED_RHYTHM_MODEL, load_rhythm_model, resolve_rhythm_model
from ecgadapt.rhythm.predict import challenge_score, predict_recordings, reference_labels

import sys

sys.path.insert(0, str(Path(__file__).parent))
from irregular_rhythm import compare, pooled, reference_of  # noqa: E402 - the screen's own scoring


def cinc_scores(root: Path, names: list[str], model, meta) -> dict:
    table, skipped = predict_recordings([root / n for n in names], model, meta, labels=reference_labels(root))
    return {**challenge_score(table), "skipped": skipped,
            "noise_f1": challenge_score(table, ("~",))["f1"]["~"]}


def af_rows(paths: list[Path], rhythm_model: Path, lead: str | None, work: Path) -> list[dict]:
    rows = []
    with progress_bar(True, f"{paths[0].parent.name}", len(paths)) as advance:
        for path in paths:
            fs, n, _, _, af, flutter = reference_of(path)
            out = work / path.name
            annotate_record(shipped_model_path(), path, out, lead=lead, outputs=("rhythm", "summary"),
                            rhythm_model=rhythm_model)
            episodes = pd.read_csv(out / "rhythm.csv")
            found = episodes[episodes.rhythm == "AF"]
            rows.append({"record": path.name, **compare(found, af, flutter, n / fs),
                         **episode_counts(list(zip(found.start_s, found.end_s)), af),
                         "noise_s": round(float((episodes.end_s - episodes.start_s)[episodes.rhythm == "~"].sum()), 1)})
            advance(path.name)
    return rows


def episode_counts(found: list[tuple[float, float]], annotated: list[tuple[float, float]]) -> dict:
    """Episodes, as AAMI EC57 counts them for AF: an annotated episode is detected where a found one overlaps it, a
    found episode is true where it overlaps an annotated one."""
    overlaps = lambda a, b: a[0] < b[1] and b[0] < a[1]  # noqa: E731
    return {"af_episodes_annotated": len(annotated), "af_episodes_found": len(found),
            "annotated_episodes_detected": sum(any(overlaps(a, f) for f in found) for a in annotated),
            "found_episodes_true": sum(any(overlaps(f, a) for a in annotated) for f in found)}


def episode_scores(rows: list[dict]) -> dict:
    total = lambda k: sum(r[k] for r in rows)  # noqa: E731
    return {"episode_se": round(total("annotated_episodes_detected") / max(total("af_episodes_annotated"), 1), 3),
            "episode_ppv": round(total("found_episodes_true") / max(total("af_episodes_found"), 1), 3),
            "episodes_annotated": total("af_episodes_annotated"), "episodes_found": total("af_episodes_found")}


def screen_rows(name: str, records: list[str]) -> dict | None:
    path = Path(__file__).parent / "results" / "irregular_rhythm.json"
    if not path.is_file():
        return None
    screen = json.loads(path.read_text())
    out = {}
    for how in ("reference", "annotated", "detected"):
        key = f"{name}_{how}"
        if key in screen:
            rows = [r for r in screen[key]["per_record"] if r["record"] in records]
            out[how] = pooled(rows)
    return out


def day_long_speed(data: Path, model, meta, path: Path) -> dict:
    rec = wfdb.rdrecord(str(data / "mitdb" / "100"), channel_names=["MLII"])
    signal = np.tile(rec.p_signal[:, 0].astype(np.float32), 48)
    t0 = time.perf_counter()
    analysis = analyse_rhythm(signal, float(rec.fs), model, meta, model_path=path, source="100 x 48", lead="MLII")
    seconds = time.perf_counter() - t0
    return {"hours": round(len(signal) / rec.fs / 3600, 2), "seconds": round(seconds, 2),
            "windows": int(len(analysis.windows.probs)), "episodes": int(len(analysis.episodes))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--model", default=SHIPPED_RHYTHM_MODEL)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/rhythm.json"))
    args = ap.parse_args()
    path = resolve_rhythm_model(args.model)
    model, meta = load_rhythm_model(path)
    card = json.loads(path.with_suffix(".json").read_text())
    cinc = args.data / "challenge2017" / "training2017"
    result = {"command": f"python benchmarks/rhythm.py --data {args.data} --model {args.model}",
              "model": str(path), "model_command": card["command"],
              "cinc2017_test": cinc_scores(cinc, card["split"]["test"], model, meta),
              "cinc2017_validation": cinc_scores(cinc, card["split"]["val"], model, meta)}
    print("CinC 2017 test:", json.dumps({k: v for k, v in result["cinc2017_test"].items() if k != "skipped"}))
    ds2 = [args.data / "mitdb" / name for name in DS2]
    cpsc_root = args.data / "samples" / "cpsc2021_samples"
    cpsc = sorted((p.with_suffix("") for p in cpsc_root.glob("*.hea")), key=lambda p: p.name)
    with tempfile.TemporaryDirectory() as tmp:
        rows = af_rows(ds2, path, None, Path(tmp) / "ds2")
        without = [r for r in rows if r["record"] != "202"]
        result["mitdb_ds2"] = {"pooled": pooled(rows), "pooled_without_202": pooled(without), "per_record": rows,
                               "episodes": episode_scores(rows), "episodes_without_202": episode_scores(without),
                               "screen": screen_rows("mitdb_ds2", DS2),
                               "screen_without_202": screen_rows("mitdb_ds2", [r for r in DS2 if r != "202"])}
        rows = af_rows(cpsc, path, "II", Path(tmp) / "cpsc")
        result["cpsc2021_samples"] = {"pooled": pooled(rows), "per_record": rows, "episodes": episode_scores(rows),
                                      "screen": screen_rows("cpsc2021_samples", [p.name for p in cpsc])}
    for key in ("mitdb_ds2", "cpsc2021_samples"):
        print(key, json.dumps(result[key]["pooled"]), json.dumps(result[key]["episodes"]))
    result["speed_24h"] = day_long_speed(args.data, model, meta, path)
    print("24 h:", json.dumps(result["speed_24h"]))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
