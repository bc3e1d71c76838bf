"""Downstream evaluation: linear probing and fine-tuning of an MAE encoder on an audio task.

>>> from workbench.finetune import FinetuneConfig, finetune
>>> m = finetune(FinetuneConfig(task="synth_sounds", init="runs/fdb", protocol="linear", epochs=10,
...                             out_dir="runs/ft", model="tiny"))
>>> m["test_accuracy"]

The classifier is the encoder (``init="scratch"``: a fresh preset; else the encoder weights of a
pre-training checkpoint), mean-pooled token outputs, and a linear head:

* ``protocol="linear"``: the encoder is frozen. Features are computed once (no augmentation),
  standardised with the training split's mean/std, and a linear layer is trained on them (mixup,
  when on, mixes features).
* ``protocol="finetune"``: every encoder layer trains, with layer-wise learning-rate decay (BEiT /
  MAE: the head gets ``lr``, block ``i`` of ``L`` gets ``lr * decay**(L - i)``, the embedding
  ``lr * decay**(L + 1)``), a LayerNorm + linear head (SSAST's), SpecAugment and mixup switches.

Both use AdamW with linear warm-up and cosine decay, report accuracy every epoch (and mAP for
multi-label tasks), run every fold of a cross-validated task (``fold="all"``) or one, and append
tidy rows (``pretrain_dataset, task, protocol, fold, metric, value`` + run columns) to a results
CSV that grows across runs. ``out_dir`` receives ``config.json`` and ``metrics.json`` (per-epoch
history, per-fold results, confusion matrix).
"""

from __future__ import annotations

import csv
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from workbench import models
from workbench.audio import datasets
from workbench.engine import resolve_device, warmup_cosine
from workbench.io import atomic_write_json
from workbench.models.mae import MAEConfig, MaskedAutoencoder

PROTOCOLS = ("linear", "finetune")
DEFAULT_LR = {"linear": 1e-2, "finetune": 5e-4}
RESULT_COLUMNS = ("time", "pretrain_dataset", "task", "protocol", "fold", "metric", "value", "seed", "init",
                  "model", "epochs", "pretrain_step", "out_dir")


@dataclass
class FinetuneConfig:
    """One downstream evaluation; saved as ``config.json`` in ``out_dir``."""

    task: str = "synth_sounds"  # registered task, see workbench.audio.datasets.names()
    root: str | None = None  # local copy of the dataset, for tasks that read one
    init: str = "scratch"  # "scratch" or a pre-training run folder / checkpoint.pt
    protocol: str = "linear"  # "linear" (frozen encoder) | "finetune" (all layers)
    epochs: int = 10
    out_dir: str = "runs/finetune"
    model: str = "tiny"  # preset for init="scratch"; a checkpoint brings its own architecture
    lr: float | None = None  # peak learning rate; None: 1e-2 (linear) or 5e-4 (finetune)
    batch_size: int = 32
    seed: int = 0  # initialisation, shuffling, augmentation (not the data: see data_seed)
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    fold: str = "all"  # cross-validated tasks: held-out fold id, or "all" for k-fold CV
    results_csv: str | None = "runs/results.csv"  # tidy rows appended here; None or "" disables
    frames: int | None = None  # clip length in frames; None: the task's convention
    data_seed: int = 0  # split of an unsplit folder, parameters of the embedded tasks
    pool: str = "mean"  # "mean" over tokens | "cls" (needs a model with use_cls)
    weight_decay: float = 0.05
    layer_decay: float = 0.75  # finetune: lr multiplier per layer below the head (1 = none)
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 0
    specaug: bool = True  # finetune: one frequency and one time mask per clip
    freq_mask: int = 24  # max frequency-mask height in mel bins (AST's ESC-50 setting)
    time_mask: float = 0.2  # max time-mask width as a fraction of the frames
    mixup: float = 0.0  # mixup Beta(alpha, alpha) parameter; 0 disables
    save_model: bool = False  # write classifier.pt (encoder + head) per fold

    def __post_init__(self) -> None:
        if isinstance(self.fold, int) and not isinstance(self.fold, bool):
            self.fold = str(self.fold)
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {self.pool!r}")
        if not (self.fold == "all" or str(self.fold).isdigit()):
            raise ValueError(f"fold must be a fold number or 'all', got {self.fold!r}")
        checks = {"epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
                  "lr": self.lr is None or self.lr > 0, "weight_decay": self.weight_decay >= 0,
                  "layer_decay": 0 < self.layer_decay <= 1, "warmup_epochs": self.warmup_epochs >= 0,
                  "freq_mask": self.freq_mask >= 0, "time_mask": 0 <= self.time_mask < 1,
                  "mixup": self.mixup >= 0, "frames": self.frames is None or self.frames >= 1}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid FinetuneConfig values: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.protocol]

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneConfig":
        """Build from a dict (CLI arguments, a saved config.json), rejecting unknown keys and
        wrong types by name."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown FinetuneConfig keys: {unknown}; valid keys: {sorted(known)}")
        default = cls()
        for k, v in d.items():
            ref = getattr(default, k)
            ok = True
            if k == "fold":
                ok = isinstance(v, (str, int)) and not isinstance(v, bool)
            elif k in ("root", "results_csv"):
                ok = v is None or isinstance(v, str)
            elif k == "lr":
                ok = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
            elif k == "frames":
                ok = v is None or (isinstance(v, int) and not isinstance(v, bool))
            elif isinstance(ref, bool):
                ok = isinstance(v, bool)
            elif isinstance(ref, int):
                ok = isinstance(v, int) and not isinstance(v, bool)
            elif isinstance(ref, float):
                ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            elif isinstance(ref, str):
                ok = isinstance(v, str)
            if not ok:
                raise TypeError(f"FinetuneConfig.{k} has the wrong type: {v!r}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- model --------------------------------------------------------------------------------------
def load_encoder(init: str, *, model: str = "tiny", frames: int | None = None) -> tuple[MaskedAutoencoder, dict]:
    """The encoder to evaluate and a description of where it came from.

    ``init="scratch"``: preset ``model``, freshly initialised (seed the global RNG first).
    Otherwise ``init`` is a pre-training run folder or ``checkpoint.pt``: the architecture comes
    from its ``model_config`` and every encoder parameter (``encoder_state_dict`` keys) must be in
    its ``model`` state dict; decoder weights are ignored.
    Returns ``(model, info)`` with ``info`` keys ``init, pretrain_dataset, pretrain_step, model``.
    """
    if init == "scratch":
        overrides = {"frames": frames} if frames else {}
        return models.build(model, **overrides), {"init": "scratch", "pretrain_dataset": "none",
                                                  "pretrain_step": 0, "model": model}
    path = Path(init).expanduser()
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"init={init!r}: no checkpoint at {path}; pass 'scratch' or a pre-training "
                                "run folder (holding checkpoint.pt) or a checkpoint file")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        keys = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path} is not a workbench pre-training checkpoint (expected keys 'model' and "
                         f"'model_config'; found {keys})")
    mae = MaskedAutoencoder(MAEConfig.from_dict(ckpt["model_config"]))
    wanted = mae.encoder_state_dict()
    missing = sorted(set(wanted) - set(ckpt["model"]))
    if missing:
        raise ValueError(f"{path} lacks encoder weights {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    bad = [k for k in wanted if ckpt["model"][k].shape != wanted[k].shape]
    if bad:
        raise ValueError(f"{path}: encoder weights {bad[:8]} do not match the shapes its model_config implies")
    mae.load_state_dict({k: ckpt["model"][k] for k in wanted}, strict=False)
    pre = ckpt.get("config") or {}
    return mae, {"init": str(path), "pretrain_dataset": str(pre.get("dataset", "unknown")),
                 "pretrain_step": int(ckpt.get("step", 0) or 0), "model": str(pre.get("model", "checkpoint"))}


class AudioClassifier(nn.Module):
    """Encoder + pooled features + head: ``x [N, 1, 128, T]`` -> logits ``[N, num_classes]``.
    The head is LayerNorm + Linear (SSAST's ``mlp_head``)."""

    def __init__(self, encoder: MaskedAutoencoder, num_classes: int, *, pool: str = "mean") -> None:
        super().__init__()
        self.encoder = encoder
        self.pool = pool
        dim = encoder.cfg.enc_dim
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))
        # Only the encoder's downstream parameters train; the pre-training decoder and heads stay put.
        self._encoder_keys = set(encoder.encoder_state_dict())
        for name, p in encoder.named_parameters():
            p.requires_grad_(name in self._encoder_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.forward_features(x, pool=self.pool))

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Encoder (``encoder.*``) and head (``head.*``) weights: what a fine-tuned model needs."""
        enc = {f"encoder.{k}": v for k, v in self.encoder.encoder_state_dict().items()}
        return {**enc, **{f"head.{k}": v for k, v in self.head.state_dict().items()}}


def layer_decay_groups(clf: AudioClassifier, *, lr: float, weight_decay: float, layer_decay: float) -> list[dict]:
    """AdamW parameter groups with layer-wise lr decay (BEiT/MAE): layer id 0 for the embedding
    and CLS token, ``i + 1`` for block ``i``, ``L + 1`` for the final norm and the head; scale
    ``layer_decay ** (L + 1 - id)``. No weight decay on biases, norms and tokens."""
    depth = len(clf.encoder.blocks)
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in clf.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("encoder.blocks."):
            layer = int(name.split(".")[2]) + 1
        elif name.startswith(("encoder.patch_embed", "encoder.cls_token")):
            layer = 0
        else:
            layer = depth + 1
        no_decay = p.ndim < 2
        g = groups.setdefault((layer, no_decay), {
            "params": [], "weight_decay": 0.0 if no_decay else weight_decay,
            "lr": lr * layer_decay ** (depth + 1 - layer), "layer": layer})
        g["params"].append(p)
    return list(groups.values())


# ---- augmentation and metrics ---------------------------------------------------------------------
def spec_augment(x: torch.Tensor, *, freq_mask: int, time_mask: int, generator: torch.Generator) -> torch.Tensor:
    """One frequency and one time mask per clip (SpecAugment, Park et al. 2019) on normalised
    log-mels ``[N, 1, F, T]``; masked values are set to 0, the normalised mean. Widths are
    uniform in ``[0, max]``, positions uniform; all draws from the CPU ``generator``."""
    n, _, f, t = x.shape
    out = x.clone()
    for size, axis, width in ((f, 2, freq_mask), (t, 3, time_mask)):
        width = min(width, size)
        if width <= 0:
            continue
        w = torch.randint(0, width + 1, (n,), generator=generator)
        start = (torch.rand(n, generator=generator) * (size - w + 1).float()).long()
        pos = torch.arange(size)
        m = (pos[None] >= start[:, None]) & (pos[None] < (start + w)[:, None])  # [N, size]
        shape = (n, 1, size, 1) if axis == 2 else (n, 1, 1, size)
        out = out.masked_fill(m.view(shape).to(x.device), 0.0)
    return out


def mixup(x: torch.Tensor, y: torch.Tensor, *, alpha: float, rng: np.random.Generator,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each sample with a random partner: ``lam x + (1 - lam) x[perm]``, ``lam ~ Beta(a, a)``
    per batch; ``y`` is a probability (or multi-hot) matrix ``[N, C]`` mixed the same way."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Macro mAP over classes with at least one positive. ``scores, targets: [N, C]``; AP is the
    mean precision at the rank of each positive (ties broken by order)."""
    aps = []
    for c in range(scores.shape[1]):
        pos = targets[:, c] > 0.5
        if not pos.any():
            continue
        order = torch.argsort(scores[:, c], descending=True)
        hits = pos[order].float()
        precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        aps.append(float((precision * hits).sum() / hits.sum()))
    return float(np.mean(aps)) if aps else float("nan")


def evaluate_logits(logits: torch.Tensor, targets: torch.Tensor, *, multilabel: bool,
                    num_classes: int) -> dict:
    """``accuracy`` (top-1; multi-label: top-1 in the label set), ``map`` (multi-label), and the
    ``confusion`` matrix ``[C, C]`` (rows true, columns predicted; single-label)."""
    pred = logits.argmax(dim=1)
    if multilabel:
        acc = float(targets[torch.arange(len(pred)), pred].gt(0.5).float().mean()) if len(pred) else float("nan")
        return {"accuracy": acc, "map": mean_average_precision(logits.sigmoid(), targets)}
    acc = float((pred == targets).float().mean()) if len(pred) else float("nan")
    conf = torch.bincount(targets * num_classes + pred, minlength=num_classes ** 2).view(num_classes, num_classes)
    return {"accuracy": acc, "confusion": conf}


def _loss(logits: torch.Tensor, soft: torch.Tensor, multilabel: bool) -> torch.Tensor:
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, soft)
    return F.cross_entropy(logits, soft)


def _soft_targets(y: torch.Tensor, num_classes: int, multilabel: bool) -> torch.Tensor:
    return y.float() if multilabel else F.one_hot(y, num_classes).float()


# ---- protocols ----------------------------------------------------------------------------------
@torch.no_grad()
def extract_features(encoder: MaskedAutoencoder, ds: datasets.AudioClipDataset, *, device: torch.device,
                     batch_size: int = 64, pool: str = "mean", progress: bool = False) -> torch.Tensor:
    """Pooled encoder features ``[N, enc_dim]`` (eval mode, no augmentation), on the CPU."""
    from tqdm.auto import tqdm

    encoder.eval()
    out = []
    for start in tqdm(range(0, len(ds), batch_size), desc="features", leave=False, disable=not progress):
        x, _ = ds.batch(range(start, min(start + batch_size, len(ds))))
        out.append(encoder.forward_features(x.to(device), pool=pool).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, encoder.cfg.enc_dim)


@torch.no_grad()
def predict(clf: nn.Module, ds: datasets.AudioClipDataset, *, device: torch.device,
            batch_size: int = 64) -> torch.Tensor:
    """Logits ``[N, C]`` of a classifier over a dataset (eval mode), on the CPU."""
    clf.eval()
    out = [clf(ds.batch(range(s, min(s + batch_size, len(ds))))[0].to(device)).float().cpu()
           for s in range(0, len(ds), batch_size)]
    return torch.cat(out)


def _schedule(opt: torch.optim.Optimizer, cfg: FinetuneConfig,
              steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    total = cfg.epochs * steps_per_epoch
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total=total, warmup=warmup, min_ratio=0.0))


@dataclass
class _Probe:
    """What differs between the protocols: the trained module, how a training batch is made from
    clip indices, and how an evaluation split is scored."""

    model: nn.Module
    opt: torch.optim.Optimizer
    train_batch: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # indices -> (x, y) on device
    eval_logits: Callable[[str], torch.Tensor]  # split name -> logits [N, C] on the CPU
    state: Callable[[], dict]  # weights to save with save_model


def _linear_probe(cfg: FinetuneConfig, split: datasets.Split, encoder: MaskedAutoencoder,
                  evals: dict[str, datasets.AudioClipDataset], *, device: torch.device, progress: bool) -> _Probe:
    def features(ds: datasets.AudioClipDataset) -> torch.Tensor:
        return extract_features(encoder, ds, device=device, batch_size=max(cfg.batch_size, 64), pool=cfg.pool,
                                progress=progress)

    feats = features(split.train)
    mu = feats.mean(0)
    sd = feats.std(0).clamp_min(1e-6) if len(feats) > 1 else torch.ones(feats.shape[1])
    train_in = ((feats - mu) / sd).to(device)
    eval_in = {k: ((features(ds) - mu) / sd).to(device) for k, ds in evals.items()}
    y_train = split.train.targets()
    head = nn.Linear(train_in.shape[1], split.task.num_classes).to(device)

    @torch.no_grad()
    def eval_logits(k: str) -> torch.Tensor:
        return head.eval()(eval_in[k]).float().cpu()

    def state() -> dict:
        return {**{f"encoder.{k}": v for k, v in encoder.encoder_state_dict().items()},
                "feature_mean": mu, "feature_std": sd, **{f"head.{k}": v for k, v in head.state_dict().items()}}

    return _Probe(head, torch.optim.AdamW(head.parameters(), lr=cfg.peak_lr, weight_decay=cfg.weight_decay),
                  lambda idx: (train_in[idx.to(device)], y_train[idx].to(device)), eval_logits, state)


def _full_finetune(cfg: FinetuneConfig, split: datasets.Split, encoder: MaskedAutoencoder,
                   evals: dict[str, datasets.AudioClipDataset], *, device: torch.device,
                   generator: torch.Generator) -> _Probe:
    clf = AudioClassifier(encoder, split.task.num_classes, pool=cfg.pool).to(device)
    opt = torch.optim.AdamW(layer_decay_groups(clf, lr=cfg.peak_lr, weight_decay=cfg.weight_decay,
                                               layer_decay=cfg.layer_decay), lr=cfg.peak_lr)
    time_mask = int(cfg.time_mask * split.frames)

    def train_batch(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = split.train.batch(idx.tolist())
        if cfg.specaug:
            x = spec_augment(x, freq_mask=cfg.freq_mask, time_mask=time_mask, generator=generator)
        return x.to(device), y.to(device)

    return _Probe(clf, opt, train_batch,
                  lambda k: predict(clf, evals[k], device=device, batch_size=max(cfg.batch_size, 64)),
                  clf.trainable_state_dict)


def _run_fold(cfg: FinetuneConfig, split: datasets.Split, *, fold_name: str, device: torch.device,
              progress: bool) -> dict:
    """Train and evaluate one fold (or the fixed split); returns its results and history."""
    from tqdm.auto import tqdm

    task = split.task
    C, multilabel = task.num_classes, task.multilabel
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    encoder, info = load_encoder(cfg.init, model=cfg.model, frames=split.frames)
    encoder.to(device)
    g = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    evals = {"test": split.test, **({"valid": split.valid} if split.valid is not None else {})}
    y_eval = {k: ds.targets() for k, ds in evals.items()}
    if cfg.protocol == "linear":
        probe = _linear_probe(cfg, split, encoder, evals, device=device, progress=progress)
    else:
        probe = _full_finetune(cfg, split, encoder, evals, device=device, generator=g)
    n_train = len(split.train)
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    sched = _schedule(probe.opt, cfg, steps_per_epoch)

    history, results = [], {}
    bar = tqdm(range(1, cfg.epochs + 1), desc=f"{cfg.protocol} {task.name} fold {fold_name}", unit="epoch",
               disable=not progress)
    # A linear head on pooled features is tiny work: extra intra-op threads only add overhead.
    threads = datasets.single_thread() if cfg.protocol == "linear" and device.type == "cpu" else nullcontext()
    with threads:
        for epoch in bar:
            te = time.perf_counter()
            probe.model.train()
            order = torch.randperm(n_train, generator=g)
            loss_sum, correct = 0.0, 0.0
            for s in range(steps_per_epoch):
                x, y = probe.train_batch(order[s * cfg.batch_size:(s + 1) * cfg.batch_size])
                soft = _soft_targets(y, C, multilabel)
                if cfg.mixup > 0:
                    x, soft = mixup(x, soft, alpha=cfg.mixup, rng=rng, generator=g)
                logits = probe.model(x)
                loss = _loss(logits, soft, multilabel)
                probe.opt.zero_grad(set_to_none=True)
                loss.backward()
                probe.opt.step()
                sched.step()
                loss_sum += float(loss.detach()) * len(x)
                # Top-1 against the (mixed) target: its largest class, or any label of a multi-label clip.
                top = logits.detach().argmax(1, keepdim=True)
                hit = soft.gather(1, top).squeeze(1) > 0.5 if multilabel else top.squeeze(1) == soft.argmax(1)
                correct += float(hit.sum())
            rec = {"fold": fold_name, "epoch": epoch, "lr": max(gr["lr"] for gr in probe.opt.param_groups),
                   "train_loss": loss_sum / n_train, "train_accuracy": correct / n_train}
            for k in evals:
                results[k] = evaluate_logits(probe.eval_logits(k), y_eval[k], multilabel=multilabel, num_classes=C)
                rec[f"{k}_accuracy"] = results[k]["accuracy"]
                if multilabel:
                    rec[f"{k}_map"] = results[k]["map"]
            rec["epoch_s"] = time.perf_counter() - te
            history.append(rec)
            bar.set_postfix(loss=f"{rec['train_loss']:.3f}", test_acc=f"{rec['test_accuracy']:.3f}")

    out = {"fold": fold_name, **info, "n_train": n_train, "n_test": len(split.test),
           "n_valid": len(split.valid) if split.valid is not None else 0,
           "test_accuracy": history[-1]["test_accuracy"], "history": history,
           "norm_stats": split.stats.to_dict(), "frames": split.frames, "train_s": time.perf_counter() - t0}
    for key in ("valid_accuracy", "test_map", "valid_map"):
        if key in history[-1]:
            out[key] = history[-1][key]
    if "confusion" in results["test"]:
        out["confusion_matrix"] = results["test"]["confusion"].tolist()
    if cfg.save_model:
        torch.save({"classifier": probe.state(), "protocol": cfg.protocol, "model_config": encoder.cfg.to_dict(),
                    "config": cfg.to_dict(), "class_names": task.class_names, "norm_stats": split.stats.to_dict()},
                   Path(cfg.out_dir) / f"classifier_fold{fold_name}.pt")
    return out


def _folds(cfg: FinetuneConfig, task: datasets.TaskData) -> list[int | None]:
    if task.folds is None:
        if cfg.fold != "all":
            raise ValueError(f"task {task.name!r} has fixed train/test splits, not folds; drop fold={cfg.fold!r} "
                             "(or pass 'all')")
        return [None]
    if cfg.fold == "all":
        return list(task.folds)
    if int(cfg.fold) not in task.folds:
        raise ValueError(f"fold={cfg.fold!r} is not a fold of {task.name!r}; valid folds: "
                         f"{', '.join(map(str, task.folds))} or 'all'")
    return [int(cfg.fold)]


def finetune(cfg: FinetuneConfig, *, progress: bool = True) -> dict:
    """Run the configured evaluation on every selected fold; return the metrics dict that is also
    written to ``out_dir/metrics.json`` (``test_accuracy`` is the mean over folds of the last
    epoch's test accuracy) and append tidy rows to ``cfg.results_csv``."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    task = datasets.load_task(cfg.task, cfg.root, seed=cfg.data_seed)
    folds = _folds(cfg, task)
    atomic_write_json({"finetune": cfg.to_dict(), "device": str(device), "torch": torch.__version__,
                 "task": {"name": task.name, "root": str(task.root) if task.root else None,
                          "classes": task.class_names, "folds": list(task.folds) if task.folds else None,
                          "frames": cfg.frames or task.frames}}, out / "config.json")
    t0 = time.perf_counter()
    per_fold = []
    for fold in folds:
        split = datasets.make_split(task, fold=fold, frames=cfg.frames, seed=cfg.data_seed)
        per_fold.append(_run_fold(cfg, split, fold_name="none" if fold is None else str(fold), device=device,
                                  progress=progress))
    first = per_fold[0]
    accs = [f["test_accuracy"] for f in per_fold]
    metrics = {
        "task": task.name, "protocol": cfg.protocol, "init": first["init"],
        "pretrain_dataset": first["pretrain_dataset"], "pretrain_step": first["pretrain_step"],
        "model": first["model"], "epochs": cfg.epochs, "seed": cfg.seed,
        "folds": [f["fold"] for f in per_fold], "test_accuracy": float(np.mean(accs)),
        "test_accuracy_std": float(np.std(accs)) if len(accs) > 1 else 0.0,
        "class_names": task.class_names, "frames": first["frames"], "device": str(device),
        "wall_s": time.perf_counter() - t0,
        "history": [rec for f in per_fold for rec in f["history"]],
        "per_fold": [{k: v for k, v in f.items() if k not in ("history", "confusion_matrix")} for f in per_fold],
    }
    for key in ("valid_accuracy", "test_map", "valid_map"):
        if key in first:
            metrics[key] = float(np.mean([f[key] for f in per_fold]))
    if "confusion_matrix" in first:
        metrics["confusion_matrix"] = np.sum([f["confusion_matrix"] for f in per_fold], axis=0).tolist()
    atomic_write_json(metrics, out / "metrics.json")
    if cfg.results_csv:
        append_results(cfg.results_csv, result_rows(cfg, per_fold))
    return metrics


# ---- results ------------------------------------------------------------------------------------
def result_rows(cfg: FinetuneConfig, per_fold: Sequence[dict]) -> list[dict]:
    """Tidy rows, one per (fold, metric), with the run's identifying columns."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = []
    for f in per_fold:
        for metric in ("test_accuracy", "test_map", "valid_accuracy", "valid_map"):
            if metric in f:
                rows.append({"time": now, "pretrain_dataset": f["pretrain_dataset"], "task": cfg.task,
                             "protocol": cfg.protocol, "fold": f["fold"], "metric": metric, "value": f[metric],
                             "seed": cfg.seed, "init": f["init"], "model": f["model"], "epochs": cfg.epochs,
                             "pretrain_step": f["pretrain_step"], "out_dir": cfg.out_dir})
    return rows


def append_results(path: str | Path, rows: Sequence[dict]) -> Path:
    """Append ``rows`` to the CSV at ``path`` (header written when the file is new)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if tuple(header) != RESULT_COLUMNS:
            raise ValueError(f"{path} has columns {header}, not the results columns {list(RESULT_COLUMNS)}; "
                             "choose another results file")
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        if new:
            w.writeheader()
        w.writerows(rows)
    return path


def summarize_results(path: str | Path, *, metric: str = "test_accuracy"):
    """Mean, std and count of ``metric`` per (task, protocol, pretrain_dataset, model, epochs),
    averaging folds within a seed first, as a pandas DataFrame."""
    import pandas as pd

    df = pd.read_csv(path)
    df = df[df["metric"] == metric]
    keys = ["task", "protocol", "pretrain_dataset", "model", "epochs"]
    per_seed = df.groupby(keys + ["seed", "init"], dropna=False)["value"].mean().reset_index()
    return per_seed.groupby(keys, dropna=False)["value"].agg(["mean", "std", "count"]).reset_index()


__all__ = ["AudioClassifier", "FinetuneConfig", "PROTOCOLS", "append_results", "evaluate_logits", "extract_features",
           "finetune", "layer_decay_groups", "load_encoder", "mean_average_precision", "mixup", "predict",
           "result_rows", "spec_augment", "summarize_results"]
