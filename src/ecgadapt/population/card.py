"""A population model's card: the checkpoint's metadata, a JSON card and a Markdown model card (command, data, seed,
validation metrics) written beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


from ecgadapt._atomic import atomic_write_json, atomic_write_text
from ecgadapt.data import AAMI_CLASSES
from ecgadapt.models.io import save_checkpoint
from ecgadapt.models.registry import EcgModel
from ecgadapt.prepare import PreparedDataset
from ecgadapt.protocols import DS1


def extra_cards(card_value: dict[str, Any] | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A card's ``extra_beats`` as a list: one dict (one database, as every card before several databases could
    join), a list of them, or none."""
    if not card_value:
        return []
    return [card_value] if isinstance(card_value, dict) else list(card_value)


def extra_source_names(card_value: dict[str, Any] | list[dict[str, Any]] | None) -> tuple[str, ...]:
    """The ``DATASET:PATH`` specs a card's extra beats came from."""
    return tuple(c["source"] for c in extra_cards(card_value))


def skipped_source_records(card: dict[str, Any]) -> list[str]:
    """One line per other database (extra beats, pre-training data) whose records could not be prepared and were
    skipped: the card's JSON keeps the full list, the manifest of its cache the reasons."""
    lines = []
    sources = [("extra beats", c) for c in extra_cards(card.get("extra_beats"))]
    sources += [("pre-training data", card["pretrain"])] if card.get("pretrain") else []
    for what, source in sources:
        failures = source.get("failures") or []
        if failures:
            shown = ", ".join(failures[:10]) + (f" and {len(failures) - 10} more" if len(failures) > 10 else "")
            lines.append(f"{what} {source['source']}: {len(failures)} record(s) skipped (unreadable or too short): "
                         f"{shown}")
    return lines


def save_population_model(model: EcgModel, card: dict[str, Any], prepared: PreparedDataset, path: str | Path,
                          command: str) -> Path:
    """Checkpoint (with the preprocessing settings) + ``.json`` card + ``.md`` model card next to it."""
    path = Path(path)
    settings = prepared.settings.to_dict()
    meta = {"kind": "population-beat-model", "prep": settings, "fs": prepared.fs, "label_names": list(AAMI_CLASSES),
            "command": command, "extra_beats": card.get("extra_beats"), "pretrain": card.get("pretrain"),
            **{k: card[k] for k in ("train_records", "val_records", "seed", "best_epoch")}}
    save_checkpoint(model, path, **meta)
    card = {**card, "command": command, "prep": settings, "fs": prepared.fs}
    atomic_write_json(path.with_suffix(".json"), card)
    v = card["val_aami"]
    fit = [r for r in card["train_records"] if r not in set(card["val_records"])]
    fmt = lambda x: "–" if x is None or x != x else f"{x:.3f}"  # noqa: E731
    dropout = card["config"].get("lead_dropout", 0.0)
    lead_note = (f" Lead dropout {dropout:g}: in that share of training beats the leads after {settings['leads'][0]} were "
                 f"flat, so the model also reads a record without them (a flat channel in their place; records lacking "
                 f"them were trained on that way: {', '.join(card.get('zero_lead_records', [])) or 'none'})."
                 if dropout else "")
    extras = extra_cards(card.get("extra_beats"))
    extra = bool(extras)
    extra_note = "".join(
        f" Also trained on {e['beats']:,} annotated beats of {e['records']} `{e['dataset']}` "
        f"records ({e['license']}; lead {e['lead']} in place of "
        f"{settings['leads'][0]}, resampled to {prepared.fs:g} Hz; "
        f"{', '.join(f'{c} {n:,}' for c, n in e['class_counts'].items() if n)}): other patients, " +
        (f"and {len(e['val_records'])} more of its patients ({', '.join(e['val_records'])}; {e.get('val_beats', 0):,} "
         "beats) joined the validation patients." if e.get("val_records") else "never used for validation.") +
        (f" Left out of it altogether (a protocol's test patients): {', '.join(e['excluded_records'])}."
         if e.get("excluded_records") else "")
        for e in extras)
    pre = card.get("pretrain")
    pretrain_note = (f" Before that, the network was pre-trained to tell the rhythms ({'/'.join(pre['classes'])}) of "
                     f"{pre['records']:,} `{pre['dataset']}` recordings apart from {pre['beats']:,} of their detected "
                     f"beats ({pre['license']}; each beat labelled with its recording's rhythm; best epoch "
                     f"{pre['best_epoch']} of {pre['epochs_run']}, validation macro F1 {fmt(pre['val_macro_f1'])} on "
                     f"{pre['val_records']:,} other recordings), then given a fresh N/S/V/F/Q head." if pre else "")
    n_rr = int(getattr(model, "rr_features", 0))  # a network without the attribute reads no RR features
    rr_text = ("four RR features (pre-, post-, local and average RR)" if n_rr == 4 else
               "five RR features (pre-, post-, local and average RR, and the rhythm irregularity around the beat)"
               if n_rr == 5 else "no RR features")
    md = f"""# Model card: {path.stem}

**What it is.** A `{card['model']}` beat classifier ({sum(p.numel() for p in model.parameters()):,} parameters) for
AAMI classes N/S/V/F/Q from {' + '.join(settings['leads'] or ['every lead'])} at {prepared.fs:g} Hz: a {settings['beat_before_s']} s +
{settings['beat_after_s']} s window around each R peak plus {rr_text}.
It is the *population* model that `ecgadapt personalize` adapts to one patient.

**Data.** MIT-BIH Arrhythmia Database (PhysioNet, ODC-By 1.0), annotated beats.
Training: {len(fit)} records ({', '.join(fit)}{' = DS1 of de Chazal et al. 2004 minus the validation records' if set(card['train_records']) == set(DS1) else ''}),
{card['train_beats']:,} beats (Q beats left out: too few to learn; the Q output is never trained). Validation
(model selection, early stopping; patient-wise held out): records {', '.join(card['val_records'])},
{card['val_beats']:,} beats.{' No DS2 record was used: DS2 patients stay unseen for evaluation.' if set(card['train_records']) == set(DS1) else ''}{extra_note}

**How it was made.** `{command}` — seed {card["seed"]}, best epoch {card["best_epoch"]} of
{card['epochs_run']}, {card['train_seconds']} s on a {card.get('cpus', 2)}-core CPU ({card.get('processor', 'processor not recorded')}) with
{card.get('torch_threads', '?')} torch thread(s) (results are deterministic for a given processor and thread count). Cross-entropy with square-root inverse-frequency class weights, Adam, bf16 autocast.{lead_note}{pretrain_note}

**Validation (held-out population patients, AAMI EC57 style).** accuracy {fmt(v['accuracy'])}, macro F1 (N/S/V/F)
{fmt(v['macro_f1'])}; VEB Se {fmt(v['V']['se'])} / +P {fmt(v['V']['ppv'])}; SVEB Se {fmt(v['S']['se'])} /
+P {fmt(v['S']['ppv'])}.

**Limits.** Trained on {len(fit)} records of one database recorded in 1975–1979{' (and the extra beats above)' if extra else ''}{' after the rhythm pre-training above' if pre else ''}; inter-patient accuracy on supraventricular
beats is low, which is why it is meant to be personalized. Not a medical device.
"""
    atomic_write_text(path.with_suffix(".md"), md)
    return path
