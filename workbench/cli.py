"""Command line: the only place that parses arguments. Every command calls a library function
that the notebooks call too.

    python -m workbench pretrain --dataset fractaldb --model tiny --steps 200 --out runs/fdb
    python -m workbench pretrain --dataset fractaldb --out runs/fdb --steps 400 --resume
    python -m workbench patterns list
    python -m workbench patterns materialize shaders1k --num 1000 --out data/shaders1k
    python -m workbench models
    python -m workbench finetune --task synth_sounds --init runs/fdb --protocol linear --out runs/ft
    python -m workbench sweep --datasets all --task spoken_digits --model nano --out runs/sweep
"""

from __future__ import annotations

import argparse
import json
import sys


def _key_value(text: str) -> tuple[str, object]:
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
    p.add_argument("--accum-steps", type=int, default=d.accum_steps)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16"])
    p.add_argument("--device", default=d.device)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--out", default=d.out_dir, help="run folder (config.json, metrics, checkpoint.pt)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--set", dest="model_overrides", type=_key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="any other model option, e.g. --set enc_depth=6")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_run_pretrain)


def _run_pretrain(args: argparse.Namespace) -> int:
    from workbench.engine import PretrainConfig, pretrain

    cfg = PretrainConfig(
        dataset=args.dataset, model=args.model, tokens=args.tokens, masking=args.masking,
        mask_ratio=args.mask_ratio, frames=args.frames, model_overrides=dict(args.model_overrides),
        steps=args.steps, batch_size=args.batch_size, accum_steps=args.accum_steps, lr=args.lr,
        warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        precision=args.precision, device=args.device, seed=args.seed, out_dir=args.out,
        ckpt_every=args.ckpt_every, resume=args.resume,
    )
    metrics = pretrain(cfg, progress=not args.no_progress)
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
                       batch_size=args.batch_size)
    print(f"wrote {args.num} images to {path}")
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
    from workbench.sweep import SweepConfig

    d = SweepConfig()
    p = sub.add_parser("sweep", help="pre-train on each dataset, then evaluate downstream (resumable)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--datasets", default=d.datasets, help="comma-separated names or folders, or 'all'")
    p.add_argument("--task", default=d.task)
    p.add_argument("--protocol", default=d.protocol, choices=["linear", "finetune"])
    p.add_argument("--model", default=d.model)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--seeds", default=d.seeds, help="comma-separated seeds")
    p.add_argument("--no-scratch", action="store_true", help="skip the randomly initialised baseline")
    p.add_argument("--device", default=d.device)
    p.add_argument("--out", default=d.out_dir)
    p.add_argument("--results", default=d.results_csv, help="results CSV (default OUT/results.csv)")
    p.set_defaults(handler=_run_sweep)


def _run_sweep(args: argparse.Namespace) -> int:
    from workbench.sweep import SweepConfig, sweep

    cfg = SweepConfig(datasets=args.datasets, task=args.task, protocol=args.protocol, model=args.model,
                      steps=args.steps, batch_size=args.batch_size, frames=args.frames, lr=args.lr,
                      epochs=args.epochs, seeds=args.seeds, scratch=not args.no_scratch, device=args.device,
                      out_dir=args.out, results_csv=args.results)
    for rec in sweep(cfg):
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
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
