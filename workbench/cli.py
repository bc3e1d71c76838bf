"""Command line: the only place that parses arguments. Every command calls a library function
that the notebooks call too, and the flags of ``pretrain``, ``finetune`` and ``sweep`` are made
from their config's fields (the help text is each field's comment), so every setting is
reachable and a new one needs no edit here.

    python -m workbench pretrain --dataset fractaldb --model tiny --steps 200 --out runs/fdb
    python -m workbench pretrain --dataset fractaldb --out runs/fdb --steps 400 --resume
    python -m workbench pretrain --config runs/fdb/config.json --out runs/fdb_again
    torchrun --nproc_per_node 4 -m workbench pretrain --dataset fractaldb --model base --out runs/fdb4
    python -m workbench patterns list
    python -m workbench patterns materialize shaders1k --num 1000 --out data/shaders1k
    python -m workbench models
    python -m workbench finetune --task synth_sounds --init runs/fdb --protocol linear --out runs/ft
    python -m workbench sweep --datasets all --task spoken_digits --model nano --out runs/sweep
    python -m workbench study runs/sweep/results.csv --json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing
from typing import Any

from workbench.config import Config, ConfigTypeError, coerce, type_name
from workbench.tracking import make_tracker

NONE_WORDS = ("none", "null")


def key_value(text: str) -> tuple[str, object]:
    """``key=value`` with value parsed as JSON when possible (``enc_depth=6``, ``joint=true``)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


# ---- flags made from config fields --------------------------------------------------------------
def flag_name(f: dataclasses.Field) -> str:
    """``--batch-size`` for field ``batch_size`` (or the field's own ``flag``)."""
    return "--" + (f.metadata.get("flag") or f.name).replace("_", "-")


def _parser_for(hint: Any, name: str):
    """An argparse ``type`` for a scalar annotation; ``X | None`` also accepts ``none``."""
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args and typing.get_origin(hint) is not tuple else hint

    def parse(text: str):
        if optional and text.lower() in NONE_WORDS:
            return None
        if base in (int, float):
            try:
                return base(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected {type_name(hint)}, got {text!r}") from None
        return text

    parse.__name__ = type_name(hint)  # argparse names the type in its own errors
    return parse


def add_config_flags(parser: argparse.ArgumentParser, cls: type[Config]) -> None:
    """One flag per field of ``cls`` (``cli=False`` fields aside). No argparse defaults: a flag
    appears in the namespace only when given, so a replayed ``--config`` or a preset is only
    overridden by what the user typed; the help shows the config's own default."""
    helps, hints = cls.field_help(), cls.hints()
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        hint = hints[f.name]
        shown = "none" if default is None else (" ".join(map(str, default)) if isinstance(default, tuple) else default)
        text = f"{helps[f.name] or f.name.replace('_', ' ')} (default: {shown})"
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS, "help": text.replace("%", "%%")}
        if hint is bool:
            parser.add_argument(flag_name(f), action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(hint) is tuple:
            items = typing.get_args(hint)
            kwargs["nargs"] = "+" if items[-1] is Ellipsis else len(items)
            hint = items[0]
        choices = f.metadata.get("choices")
        parser.add_argument(flag_name(f), type=_parser_for(hint, f.name), choices=choices,
                            metavar=None if choices else f.name.upper(), **kwargs)


def config_from_args(cls: type[Config], args: argparse.Namespace, *, section: str | None = None,
                     base: dict | None = None) -> Config:
    """``cls`` from, in order: ``base``, the file given by ``--config`` (its ``section`` when it
    has one), and the flags given on the command line."""
    values = dict(base or {})
    if getattr(args, "config", None):
        values.update(cls.from_json(args.config, section=section).to_dict())
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)})
    return cls.from_dict(values)


def _add_replay(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--config", metavar="JSON", default=None,
                        help=f"replay a saved {what}: start from its settings (a run folder or its config.json); "
                             "flags given here override them")


def _add_log(parser: argparse.ArgumentParser) -> None:
    from workbench.tracking import TRACKERS

    parser.add_argument("--log", default="", choices=TRACKERS,
                        help="also mirror the metrics to a tracker (tensorboard: event files in OUT/tensorboard; "
                             "metrics.jsonl / metrics.json stay the record)")


# ---- pretrain -----------------------------------------------------------------------------------
def _add_pretrain(sub: argparse._SubParsersAction) -> None:
    from workbench.train.pretrain import PretrainConfig

    p = sub.add_parser("pretrain", help="pre-train an MAE on a pattern dataset, image folder or audio",
                       description="Pre-train an MAE. Defaults are PretrainConfig's.")
    add_config_flags(p, PretrainConfig)
    p.add_argument("--set", dest="set_pairs", type=key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="any other model option, as JSON, e.g. --set enc_depth=6 --set joint=true")
    p.add_argument("--grad-checkpointing", action="store_true",
                   help="recompute transformer blocks in backward to save memory (= --set grad_checkpointing=true)")
    _add_replay(p, "pre-training run")
    _add_log(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_pretrain)


SET_FORMS = {bool: "JSON true or false", int: "a whole number such as 6", float: "a number such as 0.5",
             str: "text"}


def model_overrides(pairs: list[tuple[str, object]], *, flags: dict[str, str]) -> dict:
    """``--set`` pairs as model options, each checked against the option's type; a key that has
    its own flag, is no model option, or has a value of the wrong type is an error that says what
    to write instead."""
    from workbench.models.mae import MAEConfig
    from workbench.registry import did_you_mean

    hints = MAEConfig.hints()
    out = {}
    for key, value in pairs:
        if key in flags:
            raise ValueError(f"--set {key}=... : {key} has its own flag, use {flags[key]} instead")
        if key not in hints:
            raise ValueError(f"--set {key}=... : {key!r} is not a model option.{did_you_mean(key, hints)} "
                             f"Model options: {', '.join(hints)}")
        try:
            out[key] = coerce(value, hints[key], f"--set {key}")
        except ConfigTypeError:
            form = (SET_FORMS[hints[key]] if hints[key] in SET_FORMS else
                    f"a JSON list such as {json.dumps(list(getattr(MAEConfig, key)))}")
            raise ValueError(f"--set {key}={json.dumps(value) if not isinstance(value, str) else value}: {key} takes "
                             f"{type_name(hints[key])}, written as {form}") from None
    return out


def _run_pretrain(args: argparse.Namespace) -> int:
    """Single process, or one rank of ``torchrun --nproc_per_node N -m workbench pretrain ...``."""
    from workbench.distributed import DistInfo
    from workbench.train.pretrain import PretrainConfig, pretrain

    flags = {f.name: flag_name(f) for f in dataclasses.fields(PretrainConfig) if f.metadata.get("cli", True)}
    flags["grad_checkpointing"] = "--grad-checkpointing"
    overrides = model_overrides(args.set_pairs, flags=flags)
    if args.grad_checkpointing:
        overrides["grad_checkpointing"] = True
    cfg = config_from_args(PretrainConfig, args, section="pretrain")
    if overrides:
        cfg = cfg.replace(model_overrides={**cfg.model_overrides, **overrides})
    tracker = make_tracker(args.log, cfg.out_dir, group="pretrain", step_key="step") if DistInfo.from_env().is_main \
        else None
    try:
        metrics = pretrain(cfg, progress=not args.no_progress, on_step=tracker)
    finally:
        if tracker is not None:
            tracker.close()
    if DistInfo.from_env().is_main:
        print(json.dumps({k: v for k, v in metrics.items() if k != "losses"}, indent=2))
    return 0


# ---- patterns and models ------------------------------------------------------------------------
def _add_patterns(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("patterns", help="list or materialise synthetic pattern datasets")
    psub = p.add_subparsers(dest="patterns_cmd", required=True)
    ls = psub.add_parser("list", help="registered pattern datasets")
    ls.set_defaults(handler=_run_patterns_list)
    m = psub.add_parser("materialize", help="write a pattern dataset as a folder of PNGs",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m.add_argument("name")
    m.add_argument("--num", type=int, required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--frames", type=int, default=1024)
    m.add_argument("--batch-size", type=int, default=64)
    m.add_argument("--format", default="png", choices=["png", "bmp", "npy"],
                   help="image files, or one memory-mapped uint8 array (npy: fastest to train from)")
    m.add_argument("--device", default="cpu", help="where to render (cuda renders most families faster)")
    m.set_defaults(handler=_run_materialize)


def _run_patterns_list(args: argparse.Namespace) -> int:
    from workbench import patterns

    for name in patterns.names():
        s = patterns.get(name)
        tag = f"({s.paper_id})" if s.paper_id else "   "
        alias = f" [alias: {', '.join(s.aliases)}]" if s.aliases else ""
        print(f"{tag} {name:28s} {s.family:16s} {s.description}{alias}")
    return 0


def _run_materialize(args: argparse.Namespace) -> int:
    from workbench.sources.materialize import materialize

    path = materialize(args.name, args.num, args.out, seed=args.seed, frames=args.frames,
                       batch_size=args.batch_size, fmt=args.format, device=args.device)
    print(f"wrote {args.num} {'samples' if args.format == 'npy' else 'images'} to {path}")
    return 0


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list model presets with their sizes")
    p.set_defaults(handler=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from workbench import models

    for name in models.names():
        c = models.config(name)
        n = sum(p.numel() for p in models.build(name).parameters())
        print(f"{name:6s} encoder {c.enc_dim}x{c.enc_depth} ({c.enc_heads} heads)  "
              f"decoder {c.dec_dim}x{c.dec_depth} ({c.dec_heads} heads)  {n / 1e6:.1f}M parameters")
    return 0


# ---- finetune -----------------------------------------------------------------------------------
def _add_finetune(sub: argparse._SubParsersAction) -> None:
    from workbench.audio import tasks
    from workbench.train.finetune import FinetuneConfig

    p = sub.add_parser("finetune", help="fine-tune or linearly probe an encoder on an audio task",
                       description=f"Linear probe or fine-tune an encoder. Tasks: {', '.join(tasks.names())}. "
                                   "Defaults are FinetuneConfig's.")
    add_config_flags(p, FinetuneConfig)
    _add_replay(p, "fine-tuning run")
    _add_log(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_run_finetune)


def _run_finetune(args: argparse.Namespace) -> int:
    from workbench.train.finetune import FinetuneConfig, finetune

    cfg = config_from_args(FinetuneConfig, args, section="finetune")
    tracker = make_tracker(args.log, cfg.out_dir, group=cfg.protocol, step_key="epoch")
    try:
        metrics = finetune(cfg, progress=not args.no_progress, on_epoch=tracker)
    finally:
        if tracker is not None:
            tracker.close()
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}, indent=2))
    return 0


# ---- sweep --------------------------------------------------------------------------------------
def _add_sweep(sub: argparse._SubParsersAction) -> None:
    from workbench.sweep import PRESETS, SweepConfig, preset_help

    p = sub.add_parser("sweep", help="pre-train on each dataset, then evaluate downstream (resumable)",
                       description=f"Presets (explicit flags override them): {preset_help()}.")
    p.add_argument("--preset", default=argparse.SUPPRESS, choices=PRESETS.names(),
                   help="named study size; its values are listed above")
    add_config_flags(p, SweepConfig)
    p.set_defaults(handler=_run_sweep)


def sweep_config(args: argparse.Namespace):
    """The SweepConfig to run: its defaults, then the --preset's values, then the flags given."""
    from workbench.sweep import SweepConfig

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(SweepConfig)
             if f.metadata.get("cli", True) and hasattr(args, f.name)}
    return SweepConfig.from_preset(getattr(args, "preset", ""), **given)


def _run_sweep(args: argparse.Namespace) -> int:
    from workbench.sweep import sweep

    for rec in sweep(sweep_config(args)):
        state = "skipped (done before)" if rec["skipped"] else f"{rec['wall_s']:.0f} s"
        print(f"{rec['dataset']:28s} seed {rec['seed']}  test_accuracy {rec['test_accuracy']}  {state}")
    return 0


# ---- study --------------------------------------------------------------------------------------
def _add_study(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="the study of a results CSV: sources vs scratch and the floor, with CIs",
                       description="One row per source and evaluation of a results CSV (folds, then seeds averaged; "
                                   "never across settings): mean with a 95%% bootstrap CI, the paired difference to "
                                   "scratch with its CI and Benjamini-Hochberg adjusted p, the difference to the "
                                   "floor; then the ranking stability and the image-property correlations.")
    p.add_argument("results_csv", help="a results CSV written by finetune or sweep")
    p.add_argument("--task", default=None, help="only this task")
    p.add_argument("--protocol", default=None, choices=["linear", "finetune"], help="only this protocol")
    p.add_argument("--metric", default="test_accuracy", help="the metric to summarise (default: test_accuracy)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-properties", dest="properties", action="store_false",
                   help="skip the image-property table (it renders 16 images per pattern dataset, cached)")
    p.set_defaults(handler=_run_study)


def _run_study(args: argparse.Namespace) -> int:
    from workbench.study import study_report

    report = study_report(args.results_csv, task=args.task, protocol=args.protocol, metric=args.metric,
                          with_properties=args.properties)
    print(json.dumps(report.to_json(), indent=2, default=str) if args.json else report.to_text())
    return 0


# ---- export, embed, predict ---------------------------------------------------------------------
def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a pre-trained model as safetensors + config for use outside the workbench",
                       description="Write RUN's model as OUT/model.safetensors, OUT/config.json and "
                                   "OUT/preprocessor_config.json (Hugging Face ASTFeatureExtractor settings). "
                                   "OUT must be new or empty.")
    p.add_argument("run", help="a pre-training run folder or its checkpoint file")
    p.add_argument("--out", required=True, help="the export folder to create (new or empty)")
    p.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from workbench.export import export

    print(f"exported {args.run} to {export(args.run, args.out)}")
    return 0


def _add_embed(sub: argparse._SubParsersAction) -> None:
    from workbench.embed import DEFAULT_BATCH, POOLS

    p = sub.add_parser("embed", help="clip and token embeddings of audio files from a pre-trained encoder",
                       description="Clip and token embeddings (with timestamps) of audio files, saved as one .npz "
                                   "(see workbench.embed for the layout).")
    p.add_argument("inputs", nargs="+", metavar="WAV_OR_FOLDER", help="audio files and folders of audio files")
    p.add_argument("--init", required=True, help="a pre-training run folder, checkpoint file or export folder")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="where to write the embeddings")
    p.add_argument("--pool", default="mean", choices=POOLS,
                   help="clip embedding: mean of the token outputs, or the CLS output (models with use_cls)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="windows per encoder call")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_embed)


def _run_embed(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.embed import embed

    if Path(args.out).exists() and not args.overwrite:  # before any work, not after it
        raise FileExistsError(f"{args.out} exists; choose another --out or pass --overwrite")
    result = embed(args.inputs, init=args.init, pool=args.pool, device=args.device, batch_size=args.batch_size,
                   progress=not args.no_progress)
    path = result.save(args.out, overwrite=args.overwrite)
    print(f"wrote {len(result.paths)} clip embeddings of size {result.clip.shape[1]}, with token embeddings, to {path}")
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="top classes of audio files from a saved fine-tuned classifier",
                       description="Top-k classes per audio file from a classifier saved by finetune --save-model.")
    p.add_argument("inputs", nargs="+", metavar="WAV", help="audio files (or folders of them)")
    p.add_argument("--classifier", required=True, metavar="RUN",
                   help="a fine-tuning folder holding classifier_fold*.pt, or one such file")
    p.add_argument("--fold", default=None, help="which fold's classifier, when RUN holds several")
    p.add_argument("--top-k", type=int, default=3, help="classes to show per file")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.set_defaults(handler=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from workbench.predict import predict

    for pred in predict(args.inputs, classifier=args.classifier, top_k=args.top_k, device=args.device,
                        fold=args.fold):
        print(f"{pred.path}: " + ", ".join(f"{name} {prob:.3f}" for name, prob in pred.top))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_pretrain(sub)
    _add_patterns(sub)
    _add_models(sub)
    _add_finetune(sub)
    _add_sweep(sub)
    _add_study(sub)
    _add_export(sub)
    _add_embed(sub)
    _add_predict(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (KeyError, ValueError, ConfigTypeError, FileExistsError, FileNotFoundError, RuntimeError) as exc:
        # Known user errors: one clear line, no traceback. KeyError's str() adds quotes.
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        # Under torchrun every rank may fail; say which one spoke.
        rank = f" (rank {os.environ['RANK']})" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
        print(f"error{rank}: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
