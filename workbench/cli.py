"""Command line: the only place that parses arguments. Every command calls a library function
that the notebooks call too.

    python -m workbench pretrain --dataset fractaldb --model tiny --steps 200 --out runs/fdb
    python -m workbench pretrain --dataset fractaldb --out runs/fdb --steps 400 --resume
    torchrun --nproc_per_node 4 -m workbench pretrain --dataset fractaldb --model base --out runs/fdb4
    python -m workbench patterns list
    python -m workbench patterns materialize shaders1k --num 1000 --out data/shaders1k
    python -m workbench models
    python -m workbench finetune --task synth_sounds --init runs/fdb --protocol linear --out runs/ft
    python -m workbench sweep --datasets all --task spoken_digits --model nano --out runs/sweep
"""

from __future__ import annotations

import argparse
import json
import os
import sys


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


def _add_pretrain(sub: argparse._SubParsersAction) -> None:
    from workbench.engine import PretrainConfig

    d = PretrainConfig()
    p = sub.add_parser("pretrain", help="pre-train an MAE on a pattern dataset, image folder or audio",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default=d.dataset, help="pattern name, image folder, or audio:SPEC")
    p.add_argument("--model", default=d.model, help="model preset (see `workbench models`)")
    p.add_argument("--tokens", default=d.tokens, choices=["patch", "frame"])
    p.add_argument("--masking", default=d.masking, choices=["random", "chunk"])
    p.add_argument("--mask-ratio", type=float, default=d.mask_ratio)
    p.add_argument("--frames", type=int, default=d.frames, help="input width in 10 ms frames")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--accum-steps", type=int, default=d.accum_steps,
                   help="micro-batches per update and process (global batch = batch size x accum x processes)")
    p.add_argument("--lr", type=float, default=d.lr, help="peak lr, or the base lr when --base-batch > 0")
    p.add_argument("--base-batch", type=int, default=d.base_batch,
                   help="0: use --lr as given; >0: peak lr = lr x global batch / base batch (MAE's linear rule)")
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16"])
    p.add_argument("--device", default=d.device, help="under torchrun, CUDA means cuda:LOCAL_RANK")
    p.add_argument("--compile", action="store_true", help="torch.compile the model's forward")
    p.add_argument("--grad-checkpointing", action="store_true",
                   help="recompute transformer blocks in backward to save memory (= --set grad_checkpointing=true)")
    p.add_argument("--data-workers", type=int, default=d.data_workers,
                   help="threads rendering batches ahead of the training step (0: in the loop)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--out", default=d.out_dir, help="run folder (config.json, metrics, checkpoint.pt)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--set", dest="model_overrides", type=key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="any other model option, e.g. --set enc_depth=6")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_run_pretrain)


def _run_pretrain(args: argparse.Namespace) -> int:
    """Single process, or one rank of ``torchrun --nproc_per_node N -m workbench pretrain ...``."""
    from workbench.engine import DistInfo, PretrainConfig, pretrain

    overrides = dict(args.model_overrides)
    if args.grad_checkpointing:
        overrides["grad_checkpointing"] = True
    cfg = PretrainConfig(
        dataset=args.dataset, model=args.model, tokens=args.tokens, masking=args.masking,
        mask_ratio=args.mask_ratio, frames=args.frames, model_overrides=overrides,
        steps=args.steps, batch_size=args.batch_size, accum_steps=args.accum_steps, lr=args.lr,
        base_batch=args.base_batch, warmup_steps=args.warmup_steps, weight_decay=args.weight_decay,
        grad_clip=args.grad_clip, precision=args.precision, device=args.device, compile=args.compile,
        data_workers=args.data_workers, seed=args.seed, out_dir=args.out, ckpt_every=args.ckpt_every, resume=args.resume,
    )
    metrics = pretrain(cfg, progress=not args.no_progress)
    if DistInfo.from_env().is_main:
        print(json.dumps({k: v for k, v in metrics.items() if k != "losses"}, indent=2))
    return 0


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
    from workbench.patterns.materialize import materialize

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


def _add_finetune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune or linearly probe an encoder on an audio task",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", required=True, help="downstream task name (e.g. synth_sounds, esc50, folder)")
    p.add_argument("--root", default=None, help="local copy of the dataset (its standard layout)")
    p.add_argument("--init", "--checkpoint", dest="init", default="scratch",
                   help="'scratch' or a pre-training run folder / checkpoint.pt")
    p.add_argument("--protocol", default="linear", choices=["linear", "finetune"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default=None, help="preset for --init scratch (default: tiny)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--fold", default=None, help="held-out fold number, or 'all' for k-fold CV")
    p.add_argument("--results", default=None, help="results CSV to append rows to")
    p.set_defaults(handler=_run_finetune)


def _run_finetune(args: argparse.Namespace) -> int:
    from workbench.finetune import FinetuneConfig, finetune

    given = {"task": args.task, "root": args.root, "init": args.init, "protocol": args.protocol,
             "epochs": args.epochs, "out_dir": args.out, "model": args.model, "lr": args.lr,
             "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
             "fold": args.fold, "results_csv": args.results}
    cfg = FinetuneConfig.from_dict({k: v for k, v in given.items() if v is not None})
    metrics = finetune(cfg)
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}, indent=2))
    return 0


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    from workbench.sweep import EXECUTORS, PRESETS, SweepConfig, preset_help

    d = SweepConfig()
    # No argparse defaults: what is not given comes from --preset, then from SweepConfig.
    keep = argparse.SUPPRESS
    p = sub.add_parser("sweep", help="pre-train on each dataset, then evaluate downstream (resumable)",
                       description=f"Presets (explicit flags override them): {preset_help()}.")
    p.add_argument("--preset", default=keep, choices=list(PRESETS),
                   help="named study size; its values are listed above")
    p.add_argument("--datasets", default=keep, help="comma-separated pattern names, image folders, audio:TASK, "
                   f"audio:TASK:ROOT or audio:/folder; 'all' = the paper's 17 (default {d.datasets})")
    p.add_argument("--task", default=keep, help=f"downstream task (default {d.task})")
    p.add_argument("--protocol", default=keep, choices=["linear", "finetune"], help=f"(default {d.protocol})")
    p.add_argument("--model", default=keep, help=f"model preset (default {d.model})")
    p.add_argument("--steps", type=int, default=keep, help=f"pre-training steps (default {d.steps})")
    p.add_argument("--batch-size", type=int, default=keep, help=f"(default {d.batch_size})")
    p.add_argument("--frames", type=int, default=keep, help=f"pre-training input width (default {d.frames})")
    p.add_argument("--lr", type=float, default=keep, help=f"pre-training peak learning rate (default {d.lr})")
    p.add_argument("--epochs", type=int, default=keep, help=f"downstream epochs (default {d.epochs})")
    p.add_argument("--seeds", default=keep, help=f"comma-separated seeds (default {d.seeds})")
    p.add_argument("--no-scratch", dest="scratch", action="store_false", default=keep,
                   help="skip the randomly initialised baseline")
    p.add_argument("--pool-size", type=int, default=keep,
                   help="feature-vis pool size for the runs (default: $WORKBENCH_POOL_SIZE or 1024)")
    p.add_argument("--executor", default=keep, choices=list(EXECUTORS),
                   help=f"papermill: run and keep the notebooks; python: in-process (default {d.executor})")
    p.add_argument("--device", default=keep, help=f"(default {d.device})")
    p.add_argument("--out", dest="out_dir", default=keep, help=f"(default {d.out_dir})")
    p.add_argument("--results", dest="results_csv", default=keep, help="results CSV (default OUT/results.csv)")
    p.set_defaults(handler=_run_sweep)


def _sweep_config(args: argparse.Namespace):
    """The SweepConfig to run: its defaults, then the --preset's values, then the flags given."""
    from dataclasses import fields

    from workbench.sweep import SweepConfig

    given = {f.name: getattr(args, f.name) for f in fields(SweepConfig) if hasattr(args, f.name)}
    return SweepConfig.from_preset(given.pop("preset", ""), **given)


def _run_sweep(args: argparse.Namespace) -> int:
    from workbench.sweep import sweep

    for rec in sweep(_sweep_config(args)):
        state = "skipped (done before)" if rec["skipped"] else f"{rec['wall_s']:.0f} s"
        print(f"{rec['dataset']:28s} seed {rec['seed']}  test_accuracy {rec['test_accuracy']}  {state}")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (KeyError, ValueError, FileExistsError, FileNotFoundError, RuntimeError) as exc:
        # Known user errors: one clear line, no traceback. KeyError's str() adds quotes.
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        # Under torchrun every rank may fail; say which one spoke.
        rank = f" (rank {os.environ['RANK']})" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
        print(f"error{rank}: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
