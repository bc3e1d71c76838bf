"""Pre-training engine: one function, :func:`pretrain`, shared by the CLI and the notebooks.

AdamW with linear warm-up then cosine decay, gradient clipping and accumulation, bf16 autocast
and SDPA on CUDA, a tqdm bar, metrics appended to ``metrics.jsonl``, and a checkpoint (model,
optimiser, scheduler, RNG, config, loss history) every ``ckpt_every`` steps. Batches and masks
are pure functions of ``(seed, step)``, so ``resume=True`` continues bit-for-bit.

Run folder layout (``out_dir``): ``config.json`` (resolved config, written before the first
step), ``metrics.jsonl`` (one record per step), ``checkpoint.pt``, ``metrics.json`` (summary).
"""

from __future__ import annotations

import json
import math
import platform
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from workbench import models
from workbench.data import make_source, step_seed
from workbench.io import atomic_torch_save, atomic_write_json


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


@dataclass
class PretrainConfig:
    """Everything a pre-training run depends on; saved as ``config.json`` beside its checkpoint."""

    dataset: str = "fractaldb"  # registered pattern name, image folder, or audio:SPEC
    model: str = "tiny"  # preset name, see workbench.models.names()
    tokens: str = "patch"  # "patch" | "frame"
    masking: str = "random"  # "random" | "chunk"
    mask_ratio: float = 0.75
    frames: int = 1024  # input width (10 ms frames); 128 mel rows
    model_overrides: dict = field(default_factory=dict)  # any other MAEConfig field
    steps: int = 200  # optimiser updates
    batch_size: int = 8  # samples per micro-batch
    accum_steps: int = 1  # micro-batches per update (effective batch = batch_size * accum_steps)
    lr: float = 1e-4  # peak learning rate (MAE-AST: 1e-4)
    min_lr_ratio: float = 0.01  # cosine floor as a fraction of lr
    warmup_steps: int = 20
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)  # MAE-AST's Adam betas
    grad_clip: float = 10.0  # max global grad norm (MAE-AST: 10); 0 disables
    precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "fp32" | "bf16"
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    seed: int = 0
    out_dir: str = "runs/pretrain"
    ckpt_every: int = 50  # steps between checkpoints (the last step always saves)
    resume: bool = False  # continue from out_dir/checkpoint.pt

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1, "batch_size": self.batch_size >= 1, "accum_steps": self.accum_steps >= 1,
            "lr": self.lr > 0, "warmup_steps": self.warmup_steps >= 0, "ckpt_every": self.ckpt_every >= 1,
            "grad_clip": self.grad_clip >= 0, "frames": self.frames >= 1,
            "min_lr_ratio": 0 <= self.min_lr_ratio <= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid PretrainConfig values: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        self.betas = tuple(self.betas)

    @classmethod
    def from_dict(cls, d: dict) -> "PretrainConfig":
        """Build from a dict (e.g. a saved config.json), rejecting unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown PretrainConfig keys: {unknown}; valid keys: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} requested but CUDA is not available; use device='cpu'")
    return dev


def build_model(cfg: PretrainConfig) -> models.MaskedAutoencoder:
    return models.build(cfg.model, tokens=cfg.tokens, masking=cfg.masking, mask_ratio=cfg.mask_ratio,
                        frames=cfg.frames, **cfg.model_overrides)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases, norms and learned tokens (MAE's convention)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(step: int, *, total: int, warmup: int, min_ratio: float) -> float:
    """LR multiplier: linear from ~0 to 1 over ``warmup`` steps, then cosine down to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_history(run_dir: str | Path) -> list[dict]:
    """Per-step records of a run (from ``metrics.jsonl``)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pretrain(cfg: PretrainConfig, *, progress: bool = True,
             on_step: Callable[[dict], None] | None = None) -> dict:
    """Pre-train an MAE as configured and return the summary metrics (also ``out_dir/metrics.json``).

    ``on_step(record)`` is called after every update (notebooks use it for live plots).
    Raises :class:`NonFiniteLossError` when the loss becomes NaN/inf, and ``FileExistsError`` when
    ``out_dir`` already holds a checkpoint and ``resume`` is False (nothing is overwritten).
    """
    out = Path(cfg.out_dir)
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not cfg.resume:
        raise FileExistsError(f"{ckpt_path} exists: pass resume=True (--resume) to continue it, "
                              "or choose another out_dir")
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    # bf16 on a CPU is allowed when asked for, but CPUs without bf16 units run it slower than fp32.
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")

    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(device)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas,
                            fused=device.type == "cuda")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(
        s, total=cfg.steps, warmup=cfg.warmup_steps, min_ratio=cfg.min_lr_ratio))
    source = make_source(cfg.dataset, frames=cfg.frames, seed=cfg.seed, device=device)

    start, history = 0, []
    if cfg.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ckpt["model_config"] != model.cfg.to_dict():
            raise ValueError(f"{ckpt_path} was saved with a different model config; "
                             "resume with the same model options or use another out_dir")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"])
        start, history = ckpt["step"], ckpt["history"]
        if start >= cfg.steps:
            print(f"{ckpt_path} already reached step {start} >= steps={cfg.steps}; nothing to do")
    # Records past the last checkpoint were lost with the interruption: keep the log consistent.
    with open(out / "metrics.jsonl", "w") as f:
        for rec in history:
            f.write(json.dumps(rec) + "\n")

    n_params = sum(p.numel() for p in model.parameters())
    atomic_write_json({
        "pretrain": cfg.to_dict(), "model_config": model.cfg.to_dict(), "device": str(device),
        "precision": "bf16" if use_bf16 else "fp32", "norm_stats": source.stats.to_dict(),
        "parameters": n_params, "torch": torch.__version__, "python": platform.python_version(),
    }, out / "config.json")

    def save(step: int) -> None:
        atomic_torch_save({
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "rng": _rng_state(), "step": step, "history": history, "config": cfg.to_dict(),
            "model_config": model.cfg.to_dict(), "norm_stats": source.stats.to_dict(),
        }, ckpt_path)

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.steps, initial=start, desc=f"pretrain {cfg.model} on {source.name}", unit="step")
    t_start = time.perf_counter()
    model.train()
    with open(out / "metrics.jsonl", "a") as log:
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            sums = {"loss": 0.0, "mse": 0.0, "infonce": 0.0}
            for micro in range(cfg.accum_steps):
                k = step * cfg.accum_steps + micro
                x = source.batch(k, cfg.batch_size)
                g = torch.Generator().manual_seed(step_seed(cfg.seed + 1, k))
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    res = model(x, generator=g)
                if not torch.isfinite(res.loss):
                    if bar is not None:
                        bar.close()
                    kept = f"the last checkpoint ({ckpt_path}) is untouched" if ckpt_path.exists() else "no checkpoint was written"
                    raise NonFiniteLossError(
                        f"loss became {float(res.loss.detach())} at step {step + 1} (lr {sched.get_last_lr()[0]:.3g}); "
                        f"{kept}. Try a lower --lr, more --warmup-steps, or --precision fp32.")
                (res.loss / cfg.accum_steps).backward()
                for key in sums:
                    sums[key] += float(getattr(res, key).detach()) / cfg.accum_steps
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
            lr = sched.get_last_lr()[0]
            opt.step()
            sched.step()
            dt = time.perf_counter() - t0
            rec = {"step": step + 1, **sums, "lr": lr, "grad_norm": float(grad_norm), "step_s": dt,
                   "samples_per_s": cfg.batch_size * cfg.accum_steps / dt}
            history.append(rec)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{rec['loss']:.4f}", lr=f"{lr:.2e}")
            if on_step is not None:
                on_step(rec)
            if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps:
                save(step + 1)
    if bar is not None:
        bar.close()

    wall = time.perf_counter() - t_start
    losses = [r["loss"] for r in history]
    timed = [r["step_s"] for r in history[-max(1, len(history) // 2):]]
    metrics = {
        "final_loss": losses[-1] if losses else float("nan"),
        "final_mse": history[-1]["mse"] if history else float("nan"),
        "final_infonce": history[-1]["infonce"] if history else float("nan"),
        "losses": losses, "steps": len(history), "dataset": cfg.dataset, "model": cfg.model,
        "tokens": cfg.tokens, "masking": cfg.masking, "mask_ratio": cfg.mask_ratio,
        "batch_size": cfg.batch_size * cfg.accum_steps, "parameters": n_params, "device": str(device),
        "precision": "bf16" if use_bf16 else "fp32", "wall_s_this_session": wall,
        "median_step_s": float(np.median(timed)) if timed else float("nan"),
        "checkpoint": str(ckpt_path),
    }
    atomic_write_json(metrics, out / "metrics.json")
    return metrics
