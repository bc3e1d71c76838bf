"""Pre-training engine: one function, :func:`pretrain`, shared by the CLI and the notebooks.

AdamW (fused) with linear warm-up then cosine decay, gradient clipping and accumulation, bf16
autocast and SDPA on CUDA, optional ``torch.compile``, a tqdm bar, metrics appended to
``metrics.jsonl``, and a checkpoint (model, optimiser, scheduler, RNG, config, loss history)
every ``ckpt_every`` steps. Batches and masks are pure functions of ``(seed, shard id)``, so
``resume=True`` continues bit-for-bit.

Data is cut into *shards*: one micro-batch of ``batch_size`` samples named by a global integer id,
with samples ``source.batch(id, batch_size)`` and a mask seeded by ``step_seed(seed + 1, id)``.
Update ``step`` consumes ``S = accum_steps * world_size`` shards; micro-batch ``m`` of rank ``r``
takes shard ``shards_done + m * world_size + r``. A run therefore depends on the global batch
only, not on how it is split into ranks and accumulation steps: 2 ranks with ``accum_steps=1``
train exactly like 1 process with ``accum_steps=2`` (up to float rounding; tested).

Under ``torchrun --nproc_per_node N -m workbench pretrain ...`` (``WORLD_SIZE > 1`` in the
environment) each process trains a ``DistributedDataParallel`` replica on ``cuda:LOCAL_RANK``
(NCCL) or the CPU (gloo). Rank 0 alone writes files, prints and shows the bar; logged metrics
are averaged over ranks.

Run folder layout (``out_dir``): ``config.json`` (resolved config, written before the first
step), ``metrics.jsonl`` (one record per step), ``checkpoint.pt``, ``metrics.json`` (summary).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist

from workbench import models
from workbench.data import Prefetcher, make_source, step_seed
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
    batch_size: int = 8  # samples per micro-batch (per process)
    accum_steps: int = 1  # micro-batches per update and process; global batch = batch_size * accum_steps * ranks
    lr: float = 1e-4  # peak learning rate (MAE-AST: 1e-4), or the base lr when base_batch > 0
    base_batch: int = 0  # 0: use lr as given; > 0: MAE's linear rule, peak lr = lr * global batch / base_batch
    min_lr_ratio: float = 0.01  # cosine floor as a fraction of lr
    warmup_steps: int = 20
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)  # MAE-AST's Adam betas
    grad_clip: float = 10.0  # max global grad norm (MAE-AST: 10); 0 disables
    precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "fp32" | "bf16"
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" (under torchrun: cuda:LOCAL_RANK)
    compile: bool = False  # torch.compile the model's forward (checkpoints keep the plain parameter names)
    data_workers: int = 0  # background threads rendering batches ahead (0: render each in the loop)
    seed: int = 0
    out_dir: str = "runs/pretrain"
    ckpt_every: int = 50  # steps between checkpoints (the last step always saves)
    resume: bool = False  # continue from out_dir/checkpoint.pt

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1, "batch_size": self.batch_size >= 1, "accum_steps": self.accum_steps >= 1,
            "lr": self.lr > 0, "base_batch": self.base_batch >= 0, "warmup_steps": self.warmup_steps >= 0,
            "ckpt_every": self.ckpt_every >= 1, "grad_clip": self.grad_clip >= 0, "frames": self.frames >= 1,
            "data_workers": self.data_workers >= 0, "min_lr_ratio": 0 <= self.min_lr_ratio <= 1,
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

    def global_batch(self, world_size: int = 1) -> int:
        """Samples per optimiser update over all processes."""
        return self.batch_size * self.accum_steps * world_size

    def effective_lr(self, world_size: int = 1) -> float:
        """Peak lr: ``lr``, or ``lr * global_batch / base_batch`` when ``base_batch > 0`` (MAE's rule)."""
        if self.base_batch == 0:
            return self.lr
        return self.lr * self.global_batch(world_size) / self.base_batch


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun launch; the defaults describe a plain single process."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistInfo":
        """Read torchrun's ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (absent: a single process)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        missing = [k for k in ("RANK", "LOCAL_RANK") if k not in os.environ]
        if missing:
            raise RuntimeError(f"WORLD_SIZE={world_size} is set but {' and '.join(missing)} is not: "
                               "launch multi-process runs with torchrun")
        return cls(world_size, int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} requested but CUDA is not available; use device='cpu'")
    return dev


def rank_device(device: str, info: DistInfo) -> torch.device:
    """:func:`resolve_device`, except that under torchrun a CUDA device is always ``cuda:LOCAL_RANK``
    (one GPU per process; choose the GPUs with ``CUDA_VISIBLE_DEVICES``)."""
    dev = resolve_device(device)
    if info.world_size == 1 or dev.type != "cuda":
        return dev
    if info.local_rank >= torch.cuda.device_count():
        raise RuntimeError(f"LOCAL_RANK={info.local_rank} but only {torch.cuda.device_count()} CUDA devices are "
                           "visible: start at most one process per GPU (--nproc_per_node)")
    return torch.device("cuda", info.local_rank)


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
    # RNG states are CPU byte tensors; torch.load(map_location="cuda") moves them, so move them back.
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        # A checkpoint from a machine with more GPUs restores the states of the devices seen here.
        for i, cuda_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), i)


def load_history(run_dir: str | Path) -> list[dict]:
    """Per-step records of a run (from ``metrics.jsonl``)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pretrain(cfg: PretrainConfig, *, progress: bool = True,
             on_step: Callable[[dict], None] | None = None) -> dict:
    """Pre-train an MAE as configured and return the summary metrics (also ``out_dir/metrics.json``).

    Run as a single process, or under torchrun with DDP (see the module docstring): the process
    group is created here when the environment says ``WORLD_SIZE > 1`` and destroyed on return
    or error. ``on_step(record)`` is called after every update, on every rank with the same
    global record (notebooks use it for live plots).
    Raises :class:`NonFiniteLossError` when the loss becomes NaN/inf, and ``FileExistsError`` when
    ``out_dir`` already holds a checkpoint and ``resume`` is False (nothing is overwritten).
    """
    ckpt_path = Path(cfg.out_dir) / "checkpoint.pt"
    # Checked before any rank can write, so every rank sees the same answer.
    if ckpt_path.exists() and not cfg.resume:
        raise FileExistsError(f"{ckpt_path} exists: pass resume=True (--resume) to continue it, "
                              "or choose another out_dir")
    info = DistInfo.from_env()
    device = rank_device(cfg.device, info)
    if info.world_size == 1:
        return _train(cfg, info, device, progress=progress, on_step=on_step)
    own_group = not dist.is_initialized()
    if own_group:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    elif dist.get_world_size() != info.world_size:
        raise RuntimeError(f"the existing process group has {dist.get_world_size()} ranks but "
                           f"WORLD_SIZE={info.world_size}")
    try:
        return _train(cfg, info, device, progress=progress, on_step=on_step)
    finally:
        if own_group:
            dist.destroy_process_group()


@contextlib.contextmanager
def _main_first(info: DistInfo) -> Iterator[None]:
    """Rank 0 runs the block before the others, e.g. so that only it fills an on-disk cache."""
    if info.world_size > 1 and not info.is_main:
        dist.barrier()
    yield
    if info.world_size > 1 and info.is_main:
        dist.barrier()


def _set_peak_lr(opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LambdaLR, lr: float) -> None:
    """Re-base a (resumed) schedule on peak ``lr``, keeping its position."""
    sched.base_lrs = [lr] * len(opt.param_groups)
    for group, lmbda in zip(opt.param_groups, sched.lr_lambdas):
        group["initial_lr"] = lr
        group["lr"] = lr * lmbda(sched.last_epoch)


def _train(cfg: PretrainConfig, info: DistInfo, device: torch.device, *, progress: bool,
           on_step: Callable[[dict], None] | None) -> dict:
    """The training loop of :func:`pretrain`, run by every rank once the process group exists."""
    out = Path(cfg.out_dir)
    ckpt_path = out / "checkpoint.pt"
    world, main = info.world_size, info.is_main
    if main:
        out.mkdir(parents=True, exist_ok=True)
    # bf16 on a CPU is allowed when asked for, but CPUs without bf16 units run it slower than fp32.
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    shards_per_step = cfg.accum_steps * world
    global_batch = cfg.global_batch(world)
    peak_lr = cfg.effective_lr(world)

    torch.manual_seed(cfg.seed)
    bare = build_model(cfg).to(device)
    opt = torch.optim.AdamW(param_groups(bare, cfg.weight_decay), lr=peak_lr, betas=cfg.betas,
                            fused=device.type in ("cpu", "cuda"))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(
        s, total=cfg.steps, warmup=cfg.warmup_steps, min_ratio=cfg.min_lr_ratio))
    with _main_first(info):  # pattern statistics are cached on disk: one writer, then readers
        source = make_source(cfg.dataset, frames=cfg.frames, seed=cfg.seed, device=device)

    start, history, shards_done = 0, [], 0
    if cfg.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        # Gradient checkpointing trades memory for time without changing the model: it may differ.
        saved_model, model_now = ({k: v for k, v in d.items() if k != "grad_checkpointing"}
                                  for d in (ckpt["model_config"], bare.cfg.to_dict()))
        if saved_model != model_now:
            changed = sorted(k for k in model_now if saved_model.get(k) != model_now[k])
            raise ValueError(f"{ckpt_path} was saved with a different model config ({', '.join(changed)}); "
                             "resume with the same model options or use another out_dir")
        bare.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"])
        start, history = ckpt["step"], ckpt["history"]
        saved_world = ckpt.get("world_size", 1)
        saved_batch = ckpt["config"].get("batch_size", cfg.batch_size)
        saved_accum = ckpt["config"].get("accum_steps", cfg.accum_steps)
        saved_global = saved_world * saved_batch * saved_accum
        # Checkpoints from before sharding were single-process: shard k = step * accum_steps + micro.
        shards_done = ckpt.get("shards_done", start * saved_accum)
        if main and saved_global != global_batch:
            print(f"warning: the global batch changed from {saved_global} "
                  f"(world {saved_world} x batch {saved_batch} x accum {saved_accum}) to {global_batch} "
                  f"(world {world} x batch {cfg.batch_size} x accum {cfg.accum_steps}) on resume; training "
                  "continues on new shards but no longer equals an uninterrupted run")
        if sched.base_lrs[0] != peak_lr:
            if main:
                print(f"peak lr changed from {sched.base_lrs[0]:.4g} to {peak_lr:.4g} on resume")
            _set_peak_lr(opt, sched, peak_lr)
        if main and start >= cfg.steps:
            print(f"{ckpt_path} already reached step {start} >= steps={cfg.steps}; nothing to do")

    n_params = sum(p.numel() for p in bare.parameters())
    if main:
        # Records past the last checkpoint were lost with the interruption: keep the log consistent.
        with open(out / "metrics.jsonl", "w") as f:
            for rec in history:
                f.write(json.dumps(rec) + "\n")
        atomic_write_json({
            "pretrain": cfg.to_dict(), "model_config": bare.cfg.to_dict(), "device": str(device),
            "precision": "bf16" if use_bf16 else "fp32", "norm_stats": source.stats.to_dict(),
            "world_size": world, "global_batch": global_batch, "lr_effective": peak_lr,
            "parameters": n_params, "torch": torch.__version__, "python": platform.python_version(),
        }, out / "config.json")
        scaling = (f" (--lr {cfg.lr:.4g} x global batch {global_batch} / --base-batch {cfg.base_batch})"
                   if cfg.base_batch else "")
        print(f"world size {world} x batch {cfg.batch_size} x accum {cfg.accum_steps} = global batch "
              f"{global_batch}; lr {peak_lr:.4g}{scaling}", flush=True)

    if cfg.compile:
        bare.compile()  # in place: state_dict() keeps its plain names (no "_orig_mod.")
    model: torch.nn.Module = bare
    if world > 1:
        # With infonce_weight=0 the InfoNCE head gets no gradient; DDP must be told, and leaves it None.
        model = torch.nn.parallel.DistributedDataParallel(
            bare, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bare.cfg.infonce_weight == 0)

    def save(step: int) -> None:
        if main:
            atomic_torch_save({
                "model": bare.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "rng": _rng_state(), "step": step, "history": history, "config": cfg.to_dict(),
                "model_config": bare.cfg.to_dict(), "norm_stats": source.stats.to_dict(),
                "world_size": world, "shards_done": shards_done,
            }, ckpt_path)
        if world > 1:
            dist.barrier()

    def my_shards(first: int) -> Iterator[int]:
        """This rank's shard ids from shard ``first`` on, in the order the loop below consumes them."""
        for k in range(cfg.steps - start):
            for micro in range(cfg.accum_steps):
                yield first + k * shards_per_step + micro * world + info.rank

    t_start = time.perf_counter()
    model.train()
    with contextlib.ExitStack() as stack:
        batches = stack.enter_context(Prefetcher(source, cfg.batch_size, my_shards(shards_done), workers=cfg.data_workers))
        log = stack.enter_context(open(out / "metrics.jsonl", "a")) if main else None
        bar = None
        if progress and main:
            from tqdm.auto import tqdm
            bar = stack.enter_context(tqdm(total=cfg.steps, initial=start, unit="step",
                                           desc=f"pretrain {cfg.model} on {source.name}"))
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            sums = {"loss": 0.0, "mse": 0.0, "infonce": 0.0}
            for micro in range(cfg.accum_steps):
                shard = shards_done + micro * world + info.rank
                got, x = next(batches)
                assert got == shard, (got, shard)
                g = torch.Generator().manual_seed(step_seed(cfg.seed + 1, shard))
                # Gradients are all-reduced once per update, in the last micro-batch's backward.
                last = micro == cfg.accum_steps - 1
                with model.no_sync() if world > 1 and not last else contextlib.nullcontext():
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                        res = model(x, generator=g)
                    # DDP averages over ranks, so this makes the gradient the mean over all shards.
                    (res.loss / cfg.accum_steps).backward()
                for key in sums:
                    sums[key] += float(getattr(res, key).detach()) / shards_per_step
            if world > 1:
                reduced = torch.tensor(list(sums.values()), dtype=torch.float64, device=device)
                dist.all_reduce(reduced)
                sums = dict(zip(sums, reduced.tolist()))
            lr = opt.param_groups[0]["lr"]
            # Checked on the global mean, so every rank stops together (none waits in a collective).
            if not math.isfinite(sums["loss"]):
                kept = (f"the last checkpoint ({ckpt_path}) is untouched" if ckpt_path.exists()
                        else "no checkpoint was written")
                raise NonFiniteLossError(
                    f"loss became {sums['loss']} at step {step + 1} (lr {lr:.3g}); "
                    f"{kept}. Try a lower --lr, more --warmup-steps, or --precision fp32.")
            grad_norm = torch.nn.utils.clip_grad_norm_(
                bare.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
            opt.step()
            sched.step()
            shards_done += shards_per_step
            dt = time.perf_counter() - t0
            rec = {"step": step + 1, **sums, "lr": lr, "grad_norm": float(grad_norm), "step_s": dt,
                   "samples_per_s": global_batch / dt}
            history.append(rec)
            if log is not None:
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{rec['loss']:.4f}", lr=f"{lr:.2e}")
            if on_step is not None:
                on_step(rec)
            if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps:
                save(step + 1)

    wall = time.perf_counter() - t_start
    losses = [r["loss"] for r in history]
    timed = [r["step_s"] for r in history[-max(1, len(history) // 2):]]
    metrics = {
        "final_loss": losses[-1] if losses else float("nan"),
        "final_mse": history[-1]["mse"] if history else float("nan"),
        "final_infonce": history[-1]["infonce"] if history else float("nan"),
        "losses": losses, "steps": len(history), "dataset": cfg.dataset, "model": cfg.model,
        "tokens": cfg.tokens, "masking": cfg.masking, "mask_ratio": cfg.mask_ratio,
        "batch_size": global_batch, "world_size": world, "lr_effective": peak_lr, "parameters": n_params,
        "device": str(device), "precision": "bf16" if use_bf16 else "fp32", "wall_s_this_session": wall,
        "median_step_s": float(np.median(timed)) if timed else float("nan"),
        "checkpoint": str(ckpt_path),
    }
    if main:
        atomic_write_json(metrics, out / "metrics.json")
    return metrics
