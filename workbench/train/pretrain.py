"""Pre-training: :func:`pretrain`, shared by the CLI, the notebooks and the sweep.

:func:`pretrain` wires a run together (device, model, optimiser, source, resume, run folder) and
loops over :func:`train_step`, the heart of it: one optimiser update over ``accum_steps``
micro-batches per process (gradients all-reduced once), the loss averaged over every micro-batch
of every rank, a non-finite check, clipping, AdamW (fused) and the warm-up + cosine schedule.
bf16 autocast and SDPA on CUDA, optional ``torch.compile``, a tqdm bar, metrics appended to
``metrics.jsonl``, and a checkpoint every ``ckpt_every`` steps.

Data is cut into *shards*: one micro-batch of ``batch_size`` samples named by a global integer id,
with samples ``source.batch(shard, batch_size)`` and a mask from the masks stream of
:mod:`workbench.seeding`. Update ``step`` consumes ``S = accum_steps * world_size`` shards;
micro-batch ``m`` of rank ``r`` takes shard ``shards_done + m * world_size + r``. A run therefore
depends on the global batch only, not on how it is split into ranks and accumulation steps: 2
ranks with ``accum_steps=1`` train exactly like 1 process with ``accum_steps=2`` (up to float
rounding; tested), and ``resume=True`` continues bit-for-bit.

Run folder layout (``out_dir``): ``config.json`` (resolved config, written before the first
step), ``metrics.jsonl`` (one record per step), ``checkpoint.pt``, ``metrics.json`` (summary).
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn as nn

from workbench import checkpoint, models, seeding
from workbench.config import Config, setting
from workbench.distributed import DistInfo, all_reduce_sum, barrier, main_first, process_group, rank_device
from workbench.files import atomic_write_json
from workbench.models.mae import TOKENS, MaskedAutoencoder
from workbench.models.masking import MASKINGS, num_masked
from workbench.rundir import RunExistsError, existing_run_files, new_run_id, run_lock
from workbench.sources import Prefetcher, Source, make_source
from workbench.sources.spec import DatasetSpec, parse_dataset
from workbench.train.optim import param_groups, set_peak_lr, warmup_cosine_schedule

PRECISIONS = ("auto", "fp32", "bf16")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


class OutOfMemory(RuntimeError):
    """A micro-batch did not fit on the device; the message says what to change."""


@dataclass
class PretrainConfig(Config):
    """Everything a pre-training run depends on; saved as ``config.json`` beside its checkpoint."""

    dataset: str = "fractaldb"  # registered pattern name, image folder, or audio:SPEC
    pool: int = setting(0, min=0)  # 0: render every batch of a pattern anew; N: train on a fixed pool of N samples rendered once (cached)
    pool_seed: int = setting(0, min=0)  # the pool's data seed: one fixed dataset for every run seed
    model: str = "tiny"  # model preset (see `python -m workbench models`)
    tokens: str = setting("patch", choices=TOKENS)  # 16x16 patches, or frames of all mel bins x 2
    masking: str = setting("random", choices=MASKINGS)  # random tokens, or square chunks (patch tokens)
    mask_ratio: float = setting(0.75, min=0.0, below=1.0)  # fraction of tokens removed
    frames: int = setting(1024, min=1)  # input width in 10 ms frames; 128 mel rows
    model_overrides: dict = setting(factory=dict, cli=False)  # any other model option (--set KEY=VALUE)
    steps: int = setting(200, min=1)  # optimiser updates
    batch_size: int = setting(8, min=1)  # samples per micro-batch (per process)
    accum_steps: int = setting(1, min=1)  # micro-batches per update and process; global batch = batch size x accum x processes
    lr: float = setting(1e-4, above=0.0)  # peak learning rate (MAE-AST: 1e-4), or the base lr when base_batch > 0
    base_batch: int = setting(0, min=0)  # 0: use lr as given; > 0: MAE's linear rule, peak lr = lr x global batch / base_batch
    min_lr_ratio: float = setting(0.01, min=0.0, max=1.0)  # cosine floor as a fraction of the peak lr
    warmup_steps: int = setting(20, min=0)  # linear warm-up steps before the cosine decay
    weight_decay: float = setting(0.01, min=0.0)  # AdamW weight decay (not on biases, norms, tokens)
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas (MAE-AST's)
    grad_clip: float = setting(10.0, min=0.0)  # max global gradient norm (MAE-AST: 10); 0 disables
    precision: str = setting("auto", choices=PRECISIONS)  # auto = bf16 on CUDA, fp32 on the CPU
    device: str = "auto"  # auto, cpu, cuda or cuda:N (under torchrun: cuda:LOCAL_RANK)
    compile: bool = False  # torch.compile the model's forward (checkpoints keep the plain parameter names)
    data_workers: int = setting(0, min=0)  # threads rendering batches ahead of the step (0: in the loop)
    seed: int = setting(0, min=0)  # seed of the weights, the data stream and the masks
    out_dir: str = setting("runs/pretrain", flag="out")  # run folder: config.json, metrics, checkpoint.pt
    ckpt_every: int = setting(50, min=1)  # steps between checkpoints (the last step always saves)
    resume: bool = False  # continue the run in out_dir from its checkpoint

    def global_batch(self, world_size: int = 1) -> int:
        """Samples per optimiser update over all processes."""
        return self.batch_size * self.accum_steps * world_size

    def effective_lr(self, world_size: int = 1) -> float:
        """Peak lr: ``lr``, or ``lr * global_batch / base_batch`` when ``base_batch > 0`` (MAE's rule)."""
        if self.base_batch == 0:
            return self.lr
        return self.lr * self.global_batch(world_size) / self.base_batch


def notebook_config(dataset: str, *, steps: int, warmup_steps: int | None = None, ckpt_every: int | None = None,
                    resume: bool | None = None, **settings) -> PretrainConfig:
    """The :class:`PretrainConfig` of a notebook's or a sweep's run, with the values they derive in
    one place: a warm-up of a tenth of the steps and a checkpoint every quarter of the run (at most
    100 steps apart), unless given; ``resume=None`` continues the run in ``out_dir`` when it has a
    checkpoint and starts one otherwise. ``settings`` are any other fields."""
    if resume is None:
        resume = (Path(settings.get("out_dir", PretrainConfig.out_dir)) / checkpoint.CHECKPOINT).exists()
    return PretrainConfig(dataset=dataset, steps=steps, resume=resume,
                          warmup_steps=max(1, steps // 10) if warmup_steps is None else warmup_steps,
                          ckpt_every=max(1, min(100, steps // 4)) if ckpt_every is None else ckpt_every,
                          **settings)


def build_model(cfg: PretrainConfig) -> MaskedAutoencoder:
    """The configured model; a mask ratio that removes no token (nothing to learn) is an error."""
    model = models.build(cfg.model, tokens=cfg.tokens, masking=cfg.masking, mask_ratio=cfg.mask_ratio,
                         frames=cfg.frames, **cfg.model_overrides)
    n = math.prod(model.cfg.grid(cfg.frames))
    if num_masked(n, cfg.mask_ratio) < 1:
        raise ValueError(f"mask_ratio={cfg.mask_ratio} removes no token of the {n} {cfg.tokens} tokens of a "
                         f"{cfg.frames}-frame input, so there is nothing to reconstruct; use a ratio of at least "
                         f"{0.5 / n:.3g}")
    return model


def load_history(run_dir: str | Path) -> list[dict]:
    """Per-step records of a run (from ``metrics.jsonl``)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class TrainState:
    """What an update changes, and what a checkpoint keeps."""

    model_without_ddp: MaskedAutoencoder
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    model: nn.Module | None = None  # model_without_ddp, or its DistributedDataParallel wrapper
    step: int = 0
    shards_done: int = 0
    history: list[dict] = field(default_factory=list)
    run_id: str = field(default_factory=new_run_id)  # kept by a resumed run
    source: dict = field(default_factory=dict)  # see source_record


def pretrain(cfg: PretrainConfig, source: Source | None = None, *, progress: bool = True,
             on_step: Callable[[dict], None] | None = None) -> dict:
    """Pre-train an MAE as configured and return the summary metrics (also ``out_dir/metrics.json``).

    ``source``: a ready :class:`~workbench.sources.Source` (default: ``make_source(cfg.dataset)``).
    Run as a single process, or under torchrun with DDP (see :mod:`workbench.distributed`).
    ``on_step(record)`` is called after every update, on every rank with the same global record
    (notebooks use it for live plots).

    The run folder has one writer (rank 0 holds :func:`workbench.rundir.run_lock`) and nothing in
    it is overwritten: a folder that holds a run is refused unless ``resume`` continues it from
    its checkpoint, and ``resume`` refuses another dataset or seed. Raises
    :class:`NonFiniteLossError` when the loss becomes NaN/inf (the last checkpoint is kept) and
    :class:`OutOfMemory` when a batch does not fit.
    """
    info = DistInfo.from_env()
    device = rank_device(cfg.device, info)
    lock = run_lock(cfg.out_dir, what="pre-training run") if info.is_main else contextlib.nullcontext()
    with lock:
        # Checked before any rank can write, so every rank sees the same answer.
        check_run_folder(cfg)
        with process_group(info, device):
            return _pretrain(cfg, source, info, device, progress=progress, on_step=on_step)


def check_run_folder(cfg: PretrainConfig) -> None:
    """A new run needs a folder without a run in it; ``resume`` needs a checkpoint to continue."""
    out = Path(cfg.out_dir)
    found = existing_run_files(out)
    if cfg.resume and checkpoint.CHECKPOINT not in found:
        held = f" (it holds {', '.join(found)}, but the run never reached a checkpoint)" if found else ""
        raise FileNotFoundError(f"resume: {out} has no {checkpoint.CHECKPOINT} to continue{held}; start a new run "
                                "without --resume in another folder")
    if found and not cfg.resume:
        hint = ("pass --resume (resume=True) to continue it" if checkpoint.CHECKPOINT in found else
                "it never reached a checkpoint, so delete the folder to start again")
        raise RunExistsError(f"{out} already holds a run ({', '.join(found)}): {hint}, or choose another output "
                             "folder; nothing was overwritten")


def _pretrain(cfg: PretrainConfig, source: Source | None, info: DistInfo, device: torch.device, *,
              progress: bool, on_step: Callable[[dict], None] | None) -> dict:
    """What :func:`pretrain` does on every rank once the process group exists."""
    out = Path(cfg.out_dir)
    ckpt_path = out / checkpoint.CHECKPOINT
    # bf16 on a CPU is allowed when asked for, but CPUs without bf16 units run it slower than fp32.
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    state = init_state(cfg, info, device)
    spec = parse_dataset(cfg.dataset) if source is None else None
    if source is None:
        with main_first(info):  # pattern statistics are cached on disk: one writer, then readers
            source = make_source(spec, frames=cfg.frames, seed=cfg.seed, device=device, pool=cfg.pool,
                                 pool_seed=cfg.pool_seed)
    state.source = source_record(source, spec, cfg)
    if cfg.resume:
        restore(state, ckpt_path, cfg, info, device)
        if state.step >= cfg.steps:  # nothing to train: the saved run stays exactly as it is
            return summarize_run(cfg, state, info, device, use_bf16=use_bf16, wall_s=0.0, write=False)
    if info.is_main:
        write_run_config(out, cfg, state, source, info, device, use_bf16=use_bf16)
    state.model = wrap_model(state.model_without_ddp, cfg, info, device)

    t_start = time.perf_counter()
    state.model.train()
    with contextlib.ExitStack() as stack:
        batches = stack.enter_context(Prefetcher(source, cfg.batch_size, _my_shards(cfg, state, info),
                                                 workers=cfg.data_workers))
        log = stack.enter_context(open(out / "metrics.jsonl", "a")) if info.is_main else None
        bar = None
        if progress and info.is_main:
            from tqdm.auto import tqdm
            bar = stack.enter_context(tqdm(total=cfg.steps, initial=state.step, unit="step",
                                           desc=f"pretrain {cfg.model} on {source.name}"))
        while state.step < cfg.steps:
            rec = train_step(state, batches, cfg, info, device, use_bf16=use_bf16, ckpt_path=ckpt_path)
            if log is not None:
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{rec['loss']:.4f}", lr=f"{rec['lr']:.2e}")
            if on_step is not None:
                on_step(rec)
            if state.step % cfg.ckpt_every == 0 or state.step == cfg.steps:
                save_checkpoint(state, ckpt_path, cfg, source, info)
    return summarize_run(cfg, state, info, device, use_bf16=use_bf16, wall_s=time.perf_counter() - t_start)


def source_record(source: Source, spec: DatasetSpec | None, cfg: PretrainConfig) -> dict:
    """How a run records its data: the name results use (aliases resolved, no machine paths) and
    the identity a resumed run must match (a folder's resolved path and content fingerprint, a
    pool's size and seed)."""
    if spec is None:
        return {"name": source.name, "identity": source.name}
    pool = f"#pool{cfg.pool}-seed{cfg.pool_seed}" if cfg.pool else ""
    return {"name": spec.result_name, "identity": spec.identity + pool}


def init_state(cfg: PretrainConfig, info: DistInfo, device: torch.device) -> TrainState:
    """A freshly initialised model (seeded by ``cfg.seed``), AdamW and the warm-up + cosine schedule."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(device)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.effective_lr(info.world_size),
                            betas=cfg.betas, fused=device.type in ("cpu", "cuda"))
    sched = warmup_cosine_schedule(opt, total=cfg.steps, warmup=cfg.warmup_steps, min_ratio=cfg.min_lr_ratio)
    return TrainState(model, opt, sched)


def restore(state: TrainState, path: Path, cfg: PretrainConfig, info: DistInfo, device: torch.device) -> None:
    """Continue from the checkpoint at ``path``: weights, optimiser, schedule, RNG, history, run
    id and the shard position. Another model, dataset or seed is refused
    (:func:`check_same_run`); a changed global batch or peak lr is reported and applied."""
    ckpt = checkpoint.load(path, map_location=device)
    check_same_run(ckpt, path, cfg, state)
    state.model_without_ddp.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    seeding.set_rng_state(ckpt["rng"])
    state.step, state.history = ckpt["step"], ckpt["history"]
    state.run_id = ckpt.get("run_id", state.run_id)
    saved_world = ckpt.get("world_size", 1)
    saved_batch = ckpt["config"].get("batch_size", cfg.batch_size)
    saved_accum = ckpt["config"].get("accum_steps", cfg.accum_steps)
    saved_global, global_batch = saved_world * saved_batch * saved_accum, cfg.global_batch(info.world_size)
    # Checkpoints from before sharding were single-process: shard k = step * accum_steps + micro.
    state.shards_done = ckpt.get("shards_done", state.step * saved_accum)
    if info.is_main and saved_global != global_batch:
        print(f"warning: the global batch changed from {saved_global} "
              f"(world {saved_world} x batch {saved_batch} x accum {saved_accum}) to {global_batch} "
              f"(world {info.world_size} x batch {cfg.batch_size} x accum {cfg.accum_steps}) on resume; training "
              "continues on new shards but no longer equals an uninterrupted run")
    peak_lr = cfg.effective_lr(info.world_size)
    if state.scheduler.base_lrs[0] != peak_lr:
        if info.is_main:
            print(f"peak lr changed from {state.scheduler.base_lrs[0]:.4g} to {peak_lr:.4g} on resume")
        set_peak_lr(state.optimizer, state.scheduler, peak_lr)
    if info.is_main and state.step >= cfg.steps:
        print(f"{path} already reached step {state.step} >= steps={cfg.steps}; nothing to do, nothing rewritten")


def check_same_run(ckpt: dict, path: Path, cfg: PretrainConfig, state: TrainState) -> None:
    """A resumed run must be the saved one: the same model (gradient checkpointing aside, which
    trades memory for time and may change), the same data and the same seed."""
    saved_model, model_now = ({k: v for k, v in d.items() if k != "grad_checkpointing"}
                              for d in (ckpt["model_config"], state.model_without_ddp.cfg.to_dict()))
    if saved_model != model_now:
        changed = sorted(k for k in model_now if saved_model.get(k) != model_now[k])
        raise ValueError(f"{path} was saved with a different model config ({', '.join(changed)}); "
                         "resume with the same model options or use another out_dir")
    saved = ckpt.get("config", {})
    changed = [k for k in ("seed",) if k in saved and saved[k] != getattr(cfg, k)]
    saved_data = ckpt.get("source", {}).get("identity")
    if saved_data is not None and saved_data != state.source["identity"]:
        changed.insert(0, f"dataset: {saved.get('dataset')!r} then, {cfg.dataset!r} now")
    elif saved_data is None and "dataset" in saved and _canonical(saved["dataset"]) != _canonical(cfg.dataset):
        changed.insert(0, f"dataset: {saved['dataset']!r} then, {cfg.dataset!r} now")
    if changed:
        keys = "; ".join(c if ":" in c else f"{c}: {saved[c]!r} then, {getattr(cfg, c)!r} now" for c in changed)
        raise ValueError(f"resume: {path} continues another run ({keys}); resume with the saved dataset and seed, "
                         "or start a new run in another folder")


def _canonical(dataset: str) -> str:
    try:
        return parse_dataset(dataset).canonical
    except (KeyError, ValueError, FileNotFoundError):
        return dataset


def write_run_config(out: Path, cfg: PretrainConfig, state: TrainState, source: Source, info: DistInfo,
                     device: torch.device, *, use_bf16: bool) -> None:
    """``config.json`` (the resolved run) and a ``metrics.jsonl`` that holds exactly the restored
    history: records past the last checkpoint were lost with an interruption."""
    with open(out / "metrics.jsonl", "w") as f:
        for rec in state.history:
            f.write(json.dumps(rec) + "\n")
    model = state.model_without_ddp
    global_batch, peak_lr = cfg.global_batch(info.world_size), cfg.effective_lr(info.world_size)
    atomic_write_json({
        "run_id": state.run_id, "pretrain": cfg.to_dict(), "model_config": model.cfg.to_dict(),
        "source": state.source, "device": str(device),
        "precision": "bf16" if use_bf16 else "fp32", "norm_stats": source.stats.to_dict(),
        "world_size": info.world_size, "global_batch": global_batch, "lr_effective": peak_lr,
        "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
        "python": platform.python_version(),
    }, out / "config.json")
    scaling = (f" (--lr {cfg.lr:.4g} x global batch {global_batch} / --base-batch {cfg.base_batch})"
               if cfg.base_batch else "")
    print(f"world size {info.world_size} x batch {cfg.batch_size} x accum {cfg.accum_steps} = global batch "
          f"{global_batch}; lr {peak_lr:.4g}{scaling}", flush=True)


def wrap_model(model: MaskedAutoencoder, cfg: PretrainConfig, info: DistInfo, device: torch.device) -> nn.Module:
    """The module the loop calls: compiled in place when asked, and wrapped in DDP under torchrun."""
    if cfg.compile:
        model.compile()  # in place: state_dict() keeps its plain names (no "_orig_mod.")
    if info.world_size == 1:
        return model
    # With infonce_weight=0 the InfoNCE head gets no gradient; DDP must be told, and leaves it None.
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=model.cfg.infonce_weight == 0)


def _my_shards(cfg: PretrainConfig, state: TrainState, info: DistInfo) -> Iterator[int]:
    """This rank's shard ids from the restored position on, in the order :func:`train_step` takes
    them (the position is read now: the returned iterator does not follow ``state``)."""
    first, per_step = state.shards_done, cfg.accum_steps * info.world_size
    return (first + k * per_step + micro * info.world_size + info.rank
            for k in range(cfg.steps - state.step) for micro in range(cfg.accum_steps))


def train_step(state: TrainState, batches: Iterator[tuple[int, torch.Tensor]], cfg: PretrainConfig,
               info: DistInfo, device: torch.device, *, use_bf16: bool, ckpt_path: Path) -> dict:
    """One optimiser update; returns (and appends to the history) its record: the loss terms
    averaged over every micro-batch of every rank, lr, gradient norm, step time."""
    t0 = time.perf_counter()
    world, per_step = info.world_size, cfg.accum_steps * info.world_size
    state.optimizer.zero_grad(set_to_none=True)
    sums = {"loss": 0.0, "mse": 0.0, "infonce": 0.0}
    for micro in range(cfg.accum_steps):
        shard = state.shards_done + micro * world + info.rank
        got, x = next(batches)
        assert got == shard, (got, shard)
        masks = seeding.generator(cfg.seed, shard, seeding.Stream.MASKS)
        # Gradients are all-reduced once per update, in the last micro-batch's backward.
        last = micro == cfg.accum_steps - 1
        sync = state.model.no_sync() if world > 1 and not last else contextlib.nullcontext()
        with sync, _oom_advice(cfg, info, device):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                res = state.model(x, generator=masks)
            # DDP averages over ranks, so this makes the gradient the mean over all shards.
            (res.loss / cfg.accum_steps).backward()
        for key in sums:
            sums[key] += float(getattr(res, key).detach()) / per_step
    sums = all_reduce_sum(sums, info, device)
    lr = state.optimizer.param_groups[0]["lr"]
    # Checked on the global mean, so every rank stops together (none waits in a collective).
    if not math.isfinite(sums["loss"]):
        kept = f"the last checkpoint ({ckpt_path}) is untouched" if ckpt_path.exists() else "no checkpoint was written"
        raise NonFiniteLossError(f"loss became {sums['loss']} at step {state.step + 1} (lr {lr:.3g}); {kept}. "
                                 "Try a lower --lr, more --warmup-steps, or --precision fp32.")
    grad_norm = nn.utils.clip_grad_norm_(state.model_without_ddp.parameters(),
                                         cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
    state.optimizer.step()
    state.scheduler.step()
    state.shards_done += per_step
    state.step += 1
    dt = time.perf_counter() - t0
    rec = {"step": state.step, **sums, "lr": lr, "grad_norm": float(grad_norm), "step_s": dt,
           "samples_per_s": cfg.global_batch(world) / dt}
    state.history.append(rec)
    return rec


@contextlib.contextmanager
def _oom_advice(cfg: PretrainConfig, info: DistInfo, device: torch.device) -> Iterator[None]:
    """Turn an out-of-memory error into :class:`OutOfMemory`, naming the batch and what to change."""
    try:
        yield
    except RuntimeError as exc:  # torch.OutOfMemoryError on CUDA, an allocator RuntimeError on the CPU
        text = str(exc)
        if not (isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate" in text):
            raise
        raise OutOfMemory(
            f"out of memory on {device} with --batch-size {cfg.batch_size} (global batch "
            f"{cfg.global_batch(info.world_size)}, {cfg.frames} frames, model {cfg.model}): lower --batch-size and "
            f"raise --accum-steps by the same factor to keep the global batch, or add --grad-checkpointing. "
            f"({text.splitlines()[0] if text else type(exc).__name__})") from None


def save_checkpoint(state: TrainState, path: Path, cfg: PretrainConfig, source: Source, info: DistInfo) -> None:
    """Rank 0 writes the checkpoint atomically; every rank waits for it."""
    if info.is_main:
        checkpoint.save({
            "model": state.model_without_ddp.state_dict(), "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(), "rng": seeding.rng_state(), "step": state.step,
            "history": state.history, "config": cfg.to_dict(), "model_config": state.model_without_ddp.cfg.to_dict(),
            "norm_stats": source.stats.to_dict(), "world_size": info.world_size, "shards_done": state.shards_done,
            "run_id": state.run_id, "source": state.source,
        }, path)
    barrier(info)


def summarize_run(cfg: PretrainConfig, state: TrainState, info: DistInfo, device: torch.device, *,
                  use_bf16: bool, wall_s: float, write: bool = True) -> dict:
    """The run's summary (also written to ``metrics.json`` by rank 0 when ``write``)."""
    history = state.history
    losses = [r["loss"] for r in history]
    timed = [r["step_s"] for r in history[-max(1, len(history) // 2):]]
    metrics = {
        "final_loss": losses[-1] if losses else float("nan"),
        "final_mse": history[-1]["mse"] if history else float("nan"),
        "final_infonce": history[-1]["infonce"] if history else float("nan"),
        "losses": losses, "steps": len(history), "run_id": state.run_id, "dataset": cfg.dataset,
        "source": state.source.get("name", cfg.dataset), "model": cfg.model,
        "tokens": cfg.tokens, "masking": cfg.masking, "mask_ratio": cfg.mask_ratio,
        "batch_size": cfg.global_batch(info.world_size), "world_size": info.world_size,
        "lr_effective": cfg.effective_lr(info.world_size),
        "parameters": sum(p.numel() for p in state.model_without_ddp.parameters()),
        "device": str(device), "precision": "bf16" if use_bf16 else "fp32", "wall_s_this_session": wall_s,
        "median_step_s": float(np.median(timed)) if timed else float("nan"),
        "checkpoint": str(Path(cfg.out_dir) / checkpoint.CHECKPOINT),
    }
    if info.is_main and write:
        atomic_write_json(metrics, Path(cfg.out_dir) / "metrics.json")
    return metrics


__all__ = ["NonFiniteLossError", "PretrainConfig", "TrainState", "build_model", "init_state", "load_history",
           "notebook_config", "pretrain", "restore", "save_checkpoint", "summarize_run", "train_step",
           "wrap_model", "write_run_config"]
