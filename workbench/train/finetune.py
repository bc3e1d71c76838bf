"""Downstream evaluation: linear probing and fine-tuning of an MAE encoder on an audio task.

>>> from workbench.train.finetune import FinetuneConfig, finetune
>>> m = finetune(FinetuneConfig(task="synth_sounds", init="runs/fdb", protocol="linear", epochs=10,
...                             out_dir="runs/ft"))
>>> m["test_accuracy"]

The classifier (:class:`~workbench.models.classifier.AudioClassifier`) is the encoder
(``init="scratch"``: a fresh preset; else the encoder weights of a pre-training run), pooled
token outputs, and a head:

* ``protocol="linear"``: the encoder is frozen. Features are computed once (no augmentation),
  standardised with the training split's mean/std, and a linear layer is trained on them (mixup,
  when on, mixes features).
* ``protocol="finetune"``: every encoder layer trains, with layer-wise learning-rate decay (BEiT /
  MAE: the head gets ``lr``, block ``i`` of ``L`` gets ``lr * decay**(L - i)``, the embedding
  ``lr * decay**(L + 1)``), a LayerNorm + linear head (SSAST's), SpecAugment and mixup switches.

Both use AdamW with linear warm-up and cosine decay (:mod:`workbench.train.downstream` runs the
epochs), report accuracy every epoch (and mAP for multi-label tasks), run every fold of a
cross-validated task (``fold="all"``) or one, and append tidy rows to a results CSV that grows
across runs (:mod:`workbench.results`). ``out_dir`` receives ``config.json`` and ``metrics.json``
(per-epoch history, per-fold results, confusion matrix).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn

from workbench import checkpoint
from workbench.audio import tasks
from workbench.audio.augment import spec_augment
from workbench.audio.clips import AudioClipDataset, single_thread
from workbench.config import Config, setting
from workbench.distributed import resolve_device
from workbench.files import atomic_torch_save, atomic_write_json, folder_fingerprint
from workbench.models.classifier import POOLS, AudioClassifier
from workbench.models.mae import TOKENS
from workbench.results import append_results, relative_path, remove_run, settings_hash
from workbench.rundir import RunExistsError, existing_run_files, new_run_id, run_lock
from workbench.train.downstream import dataset_batches, evaluate, extract_features, train_one_epoch
from workbench.train.floor import FLOOR, evaluate_floor, fit_floor
from workbench.train.optim import layer_decay_groups, warmup_cosine_schedule
from workbench.tracking import TENSORBOARD_DIR

PROTOCOLS = ("linear", "finetune")
# Measured on spoken_digits, synth_sounds and a 20-word keyword folder (README, "Downstream
# defaults"): 5e-4 with a layer decay of 0.75 left the lower blocks nearly frozen and the small
# encoders underfit (training accuracy 0.2 after 10 epochs); 1e-3 without decay fits in 30.
DEFAULT_LR = {"linear": 1e-2, "finetune": 1e-3}


@dataclass
class FinetuneConfig(Config):
    """One downstream evaluation; saved as ``config.json`` in ``out_dir``."""

    task: str = "synth_sounds"  # registered task (see `python -m workbench finetune --help`)
    root: str | None = None  # local copy of the dataset, for tasks that read one
    init: str = "scratch"  # the encoder to start from: scratch, a pre-training run folder or checkpoint, or floor (no encoder: pooled log-mel statistics + logistic regression)
    protocol: str = setting("linear", choices=PROTOCOLS)  # linear: frozen encoder; finetune: all layers
    epochs: int = setting(30, min=1)  # passes over the training split
    out_dir: str = setting("runs/finetune", flag="out")  # config.json, metrics.json (and classifiers)
    model: str | None = None  # model preset for init=scratch (none: tiny); a checkpoint brings its own
    tokens: str | None = setting(None, choices=TOKENS)  # init=scratch: patch or frame tokens (none: the preset's); a checkpoint brings its own
    lr: float | None = setting(None, above=0.0)  # peak learning rate; none: 1e-2 (linear) or 1e-3 (finetune)
    batch_size: int = setting(32, min=1)  # clips (or feature rows) per step
    seed: int = setting(0, min=0)  # initialisation, shuffling, augmentation (not the data: see data_seed)
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    fold: str = "all"  # cross-validated tasks: the held-out fold, or all for k-fold CV
    results_csv: str | None = setting("runs/results.csv", flag="results")  # tidy rows are appended here; none disables
    frames: int | None = setting(None, min=1)  # clip length in frames; none: the task's convention
    data_seed: int = setting(0, min=0)  # split of an unsplit folder, parameters of the embedded tasks
    pool: str = setting("stats", choices=POOLS)  # stats: mean and std over time of each frequency row (keeps the spectral layout); mean over tokens; cls (needs use_cls)
    weight_decay: float = setting(0.05, min=0.0)  # AdamW weight decay
    layer_decay: float = setting(1.0, above=0.0, max=1.0)  # finetune: lr multiplier per layer below the head (1 = none; 0.75 is the large-model convention)
    warmup_epochs: float = setting(1.0, min=0.0)  # linear warm-up, then cosine decay to 0
    specaug: bool = True  # finetune: one frequency and one time mask per clip
    freq_mask: int = setting(24, min=0)  # max frequency-mask height in mel bins (AST's ESC-50 setting)
    time_mask: float = setting(0.2, min=0.0, below=1.0)  # max time-mask width as a fraction of the frames
    mixup: float = setting(0.0, min=0.0)  # mixup Beta(alpha, alpha) parameter; 0 disables
    label_fraction: float = setting(1.0, above=0.0, max=1.0)  # keep this fraction of the training labels of each class (seeded by seed)
    eval_every: int = setting(1, min=0)  # evaluate every N epochs and after the last; 0: only after the last (many short epochs)
    save_model: bool = False  # write classifier_fold<F>.pt (encoder + head) per fold
    overwrite: bool = False  # replace a previous fine-tuning run in out_dir, and its results rows

    def __post_init__(self) -> None:
        if isinstance(self.fold, int) and not isinstance(self.fold, bool):
            self.fold = str(self.fold)  # papermill and JSON give fold numbers as ints
        super().__post_init__()

    def check(self) -> dict[str, str]:
        if not (self.fold == "all" or self.fold.isdigit()):
            return {"fold": "must be a fold number or 'all'"}
        return {}

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.protocol]


@dataclass
class ProtocolSetup:
    """What differs between the protocols: the module that trains, its optimiser, the training
    batches of an epoch (given the clip order), and the evaluation batches of a split."""

    trained: nn.Module
    optimizer: torch.optim.Optimizer
    train_batches: Callable[[torch.Tensor], Iterable[tuple[torch.Tensor, torch.Tensor]]]
    eval_batches: Callable[[str], Iterable[tuple[torch.Tensor, torch.Tensor]]]


def setup_linear_probe(cfg: FinetuneConfig, clf: AudioClassifier, split: tasks.Split,
                       evals: dict[str, AudioClipDataset], *, device: torch.device, progress: bool) -> ProtocolSetup:
    """Frozen encoder: features once, standardised with the training split's statistics, a
    linear head trained on them."""
    clf.freeze_encoder()
    batch = max(cfg.batch_size, 64)
    feats = extract_features(clf, split.train, device=device, batch_size=batch, progress=progress)
    clf.set_feature_stats(feats.to(clf.feature_mean.device))

    def standardized(f: torch.Tensor) -> torch.Tensor:
        return ((f.to(device) - clf.feature_mean) / clf.feature_std)

    train_in, y_train = standardized(feats), split.train.targets().to(device)
    eval_in = {k: standardized(extract_features(clf, ds, device=device, batch_size=batch, progress=progress))
               for k, ds in evals.items()}
    y_eval = {k: ds.targets().to(device) for k, ds in evals.items()}
    opt = torch.optim.AdamW(clf.head.parameters(), lr=cfg.peak_lr, weight_decay=cfg.weight_decay)

    def train_batches(order: torch.Tensor):
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s:s + cfg.batch_size].to(device)
            yield train_in[idx], y_train[idx]

    return ProtocolSetup(clf.head, opt, train_batches, lambda k: [(eval_in[k], y_eval[k])])


def setup_finetune(cfg: FinetuneConfig, clf: AudioClassifier, split: tasks.Split,
                   evals: dict[str, AudioClipDataset], *, device: torch.device,
                   generator: torch.Generator) -> ProtocolSetup:
    """Every layer trains: layer-wise lr decay, SpecAugment on the training batches."""
    opt = torch.optim.AdamW(layer_decay_groups(clf, lr=cfg.peak_lr, weight_decay=cfg.weight_decay,
                                               layer_decay=cfg.layer_decay), lr=cfg.peak_lr)
    time_mask = int(cfg.time_mask * split.frames)

    def augment(x: torch.Tensor) -> torch.Tensor:
        return spec_augment(x, freq_mask=cfg.freq_mask, time_mask=time_mask, generator=generator)

    def train_batches(order: torch.Tensor):
        return dataset_batches(split.train, cfg.batch_size, device=device, order=order,
                               transform=augment if cfg.specaug else None)

    batch = max(cfg.batch_size, 64)
    return ProtocolSetup(clf, opt, train_batches, lambda k: dataset_batches(evals[k], batch, device=device))


def run_fold(cfg: FinetuneConfig, split: tasks.Split, *, fold_name: str, device: torch.device,
             progress: bool, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train and evaluate one fold (or the fixed split); returns its results and history.
    ``on_epoch(record)`` sees each epoch's history record (the floor has no epochs)."""
    split = split.with_label_fraction(cfg.label_fraction, seed=cfg.seed)
    if cfg.init == FLOOR:
        return run_floor_fold(cfg, split, fold_name=fold_name)
    return _run_encoder_fold(cfg, split, fold_name=fold_name, device=device, progress=progress, on_epoch=on_epoch)


def run_floor_fold(cfg: FinetuneConfig, split: tasks.Split, *, fold_name: str) -> dict:
    """The floor on one fold: fit on the training clips, score every evaluation split."""
    t0 = time.perf_counter()
    model = fit_floor(split.train, seed=cfg.seed)
    results = {"train": evaluate_floor(model, split.train), "test": evaluate_floor(model, split.test)}
    if split.valid is not None:
        results["valid"] = evaluate_floor(model, split.valid)
    rec = {"fold": fold_name, "epoch": 1, "train_accuracy": results["train"]["accuracy"],
           **{f"{k}_accuracy": r["accuracy"] for k, r in results.items() if k != "train"},
           **{f"{k}_map": r["map"] for k, r in results.items() if k != "train" and "map" in r}}
    return _fold_summary(FLOOR_INFO, split, [rec], results, wall_s=time.perf_counter() - t0)


FLOOR_INFO = {"init": FLOOR, "pretrain_dataset": FLOOR, "pretrain_step": 0, "model": FLOOR}


def _run_encoder_fold(cfg: FinetuneConfig, split: tasks.Split, *, fold_name: str, device: torch.device,
                      progress: bool, on_epoch: Callable[[dict], None] | None) -> dict:
    from tqdm.auto import tqdm

    task = split.task
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    encoder, info = checkpoint.load_encoder(cfg.init, model=cfg.model, frames=split.frames, tokens=cfg.tokens)
    head = "standardized" if cfg.protocol == "linear" else "layernorm"
    clf = AudioClassifier(encoder, task.num_classes, pool=cfg.pool, head=head).to(device)
    g = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    evals = {"test": split.test, **({"valid": split.valid} if split.valid is not None else {})}
    if cfg.protocol == "linear":
        setup = setup_linear_probe(cfg, clf, split, evals, device=device, progress=progress)
    else:
        setup = setup_finetune(cfg, clf, split, evals, device=device, generator=g)
    n_train = len(split.train)
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    sched = warmup_cosine_schedule(setup.optimizer, total=cfg.epochs * steps_per_epoch,
                                   warmup=int(round(cfg.warmup_epochs * steps_per_epoch)))
    history, results = [], {}
    bar = tqdm(range(1, cfg.epochs + 1), desc=f"{cfg.protocol} {task.name} fold {fold_name}", unit="epoch",
               disable=not progress)
    # A linear head on pooled features is tiny work: extra intra-op threads only add overhead.
    threads = single_thread() if cfg.protocol == "linear" and device.type == "cpu" else nullcontext()
    with threads:
        for epoch in bar:
            te = time.perf_counter()
            order = torch.randperm(n_train, generator=g)
            rec = {"fold": fold_name, "epoch": epoch, "lr": max(gr["lr"] for gr in setup.optimizer.param_groups),
                   **train_one_epoch(setup.trained, setup.train_batches(order), setup.optimizer, sched,
                                     num_classes=task.num_classes, multilabel=task.multilabel,
                                     mixup_alpha=cfg.mixup, rng=rng, generator=g)}
            last = epoch == cfg.epochs
            for k in evals if last or (cfg.eval_every and epoch % cfg.eval_every == 0) else ():
                results[k] = evaluate(setup.trained, setup.eval_batches(k), num_classes=task.num_classes,
                                      multilabel=task.multilabel)
                rec[f"{k}_accuracy"] = results[k]["accuracy"]
                if task.multilabel:
                    rec[f"{k}_map"] = results[k]["map"]
            rec["epoch_s"] = time.perf_counter() - te
            history.append(rec)
            if on_epoch is not None:
                on_epoch(rec)
            bar.set_postfix(loss=f"{rec['train_loss']:.3f}",
                            test_acc=f"{rec['test_accuracy']:.3f}" if "test_accuracy" in rec else "-")
    if cfg.save_model:
        save_classifier(Path(cfg.out_dir) / f"classifier_fold{fold_name}.pt", clf, cfg, split)
    shown = {k: info[k] for k in ("init", "pretrain_dataset", "pretrain_step", "model")}
    return _fold_summary(shown, split, history, results, wall_s=time.perf_counter() - t0)


def _fold_summary(info: dict, split: tasks.Split, history: list[dict], results: dict, *, wall_s: float) -> dict:
    out = {"fold": history[-1]["fold"], **info, "n_train": len(split.train), "n_test": len(split.test),
           "n_valid": len(split.valid) if split.valid is not None else 0,
           "test_accuracy": history[-1]["test_accuracy"], "history": history,
           "norm_stats": split.stats.to_dict(), "frames": split.frames, "train_s": wall_s}
    for key in ("valid_accuracy", "test_map", "valid_map"):
        if key in history[-1]:
            out[key] = history[-1][key]
    if "confusion" in results["test"]:
        out["confusion_matrix"] = results["test"]["confusion"].tolist()
    return out


def save_classifier(path: Path, clf: AudioClassifier, cfg: FinetuneConfig, split: tasks.Split) -> None:
    """A trained classifier: its weights (encoder, head, feature statistics), the model config,
    the class names and the input statistics."""
    atomic_torch_save({"classifier": clf.classifier_state_dict(), "head": clf.head_kind, "pool": clf.pool,
                       "protocol": cfg.protocol, "model_config": clf.encoder.cfg.to_dict(), "config": cfg.to_dict(),
                       "class_names": list(split.task.class_names), "norm_stats": split.stats.to_dict(),
                       "frames": split.frames}, path)


def select_folds(cfg: FinetuneConfig, task: tasks.TaskData) -> list[int | None]:
    """The folds to run: ``[None]`` for a task with fixed splits, else every fold or the one asked for."""
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


def finetune(cfg: FinetuneConfig, *, progress: bool = True, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Run the configured evaluation on every selected fold; return the metrics dict that is also
    written to ``out_dir/metrics.json`` (``test_accuracy`` is the mean over folds of the last
    epoch's test accuracy) and add tidy rows to ``cfg.results_csv``.

    ``out_dir`` has one writer (:func:`workbench.rundir.run_lock`) and is never a pre-training
    run's folder; a previous fine-tuning there is refused unless ``overwrite`` replaces it and its
    results rows (:func:`check_out_dir`). ``on_epoch(record)`` is called with every epoch's history
    record (e.g. a :class:`workbench.tracking.TensorBoardLog`)."""
    device = resolve_device(cfg.device)
    task = tasks.load_task(cfg.task, cfg.root, seed=cfg.data_seed)
    folds = select_folds(cfg, task)
    # A bad --init or --model fails here, before any write.
    info = dict(FLOOR_INFO) if cfg.init == FLOOR else checkpoint.load_encoder(cfg.init, model=cfg.model,
                                                                               tokens=cfg.tokens)[1]
    check_out_dir(cfg)
    with run_lock(cfg.out_dir, what="fine-tuning run"):
        check_out_dir(cfg)  # again, now that no other writer can change the folder
        replace_previous_run(cfg)
        run_id = new_run_id()
        write_config(cfg, task, info, run_id, device)
        t0 = time.perf_counter()
        per_fold = []
        for fold in folds:
            split = tasks.make_split(task, fold=fold, frames=cfg.frames, seed=cfg.data_seed)
            per_fold.append(run_fold(cfg, split, fold_name="none" if fold is None else str(fold), device=device,
                                     progress=progress, on_epoch=on_epoch))
        metrics = {"run_id": run_id, **_run_summary(cfg, task, per_fold, device=device,
                                                    wall_s=time.perf_counter() - t0)}
        atomic_write_json(metrics, Path(cfg.out_dir) / "metrics.json")
        if cfg.results_csv:
            append_results(cfg.results_csv, result_rows(cfg, per_fold, run_id=run_id, info=info, task=task))
    return metrics


FINETUNE_FILES = ("config.json", "metrics.json", "metrics.jsonl", "checkpoint.pt")


def check_out_dir(cfg: FinetuneConfig) -> None:
    """Refuse an output folder that holds a pre-training run (always), or a fine-tuning run
    (unless ``overwrite``); nothing is written here."""
    out = Path(cfg.out_dir)
    found = existing_run_files(out, FINETUNE_FILES)
    if not found:
        return
    saved = _saved_config(out)
    if "finetune" not in saved:
        raise RunExistsError(f"{out} holds a pre-training run ({', '.join(found)}); fine-tuning never writes into "
                             "it: choose another output folder (--out)")
    if not cfg.overwrite:
        raise RunExistsError(f"{out} already holds a fine-tuning run (run {saved.get('run_id', 'of an earlier version')}"
                             "): pass --overwrite to replace it and its results rows, or choose another --out")


def replace_previous_run(cfg: FinetuneConfig) -> None:
    """With ``overwrite``: drop the previous fine-tuning's results rows and files from ``out_dir``."""
    out = Path(cfg.out_dir)
    saved = _saved_config(out)
    if not saved:
        return
    if saved.get("results_path") and saved.get("run_id"):
        remove_run(saved["results_path"], saved["run_id"])
    for path in [out / "config.json", out / "metrics.json", *out.glob("classifier_fold*.pt")]:
        path.unlink(missing_ok=True)
    shutil.rmtree(out / TENSORBOARD_DIR, ignore_errors=True)


def _saved_config(out: Path) -> dict:
    path = out / "config.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise RunExistsError(f"{path} is not readable JSON; move the folder aside or choose another --out") from None


def write_config(cfg: FinetuneConfig, task: tasks.TaskData, info: dict, run_id: str, device: torch.device) -> None:
    """``config.json``: the settings, the run id, where the encoder came from, and the task."""
    atomic_write_json({
        "run_id": run_id, "finetune": cfg.to_dict(), "device": str(device), "torch": torch.__version__,
        "results_path": str(Path(cfg.results_csv).resolve()) if cfg.results_csv else None,
        "encoder": {k: info[k] for k in ("init", "pretrain_dataset", "pretrain_step", "model") if k in info},
        "task": {"name": task.name, "root": str(task.root) if task.root else None, "classes": task.class_names,
                 "folds": list(task.folds) if task.folds else None, "frames": cfg.frames or task.frames},
    }, Path(cfg.out_dir) / "config.json")


def _run_summary(cfg: FinetuneConfig, task: tasks.TaskData, per_fold: list[dict], *, device: torch.device,
                 wall_s: float) -> dict:
    first = per_fold[0]
    accs = [f["test_accuracy"] for f in per_fold]
    metrics = {
        "task": task.name, "protocol": cfg.protocol, "init": first["init"],
        "pretrain_dataset": first["pretrain_dataset"], "pretrain_step": first["pretrain_step"],
        "model": first["model"], "epochs": cfg.epochs, "seed": cfg.seed,
        "folds": [f["fold"] for f in per_fold], "test_accuracy": float(np.mean(accs)),
        "test_accuracy_std": float(np.std(accs)) if len(accs) > 1 else 0.0,
        "class_names": task.class_names, "frames": first["frames"], "device": str(device), "wall_s": wall_s,
        "history": [rec for f in per_fold for rec in f["history"]],
        "per_fold": [{k: v for k, v in f.items() if k not in ("history", "confusion_matrix")} for f in per_fold],
    }
    for key in ("valid_accuracy", "test_map", "valid_map"):
        if key in first:
            metrics[key] = float(np.mean([f[key] for f in per_fold]))
    if "confusion_matrix" in first:
        metrics["confusion_matrix"] = np.sum([f["confusion_matrix"] for f in per_fold], axis=0).tolist()
    return metrics


# Settings that are identities or change no number, or have their own column: out of the hashes.
NOT_SETTINGS = ("task", "root", "init", "out_dir", "device", "fold", "results_csv", "seed", "save_model", "overwrite",
                "model")
PRETRAIN_NOT_SETTINGS = ("dataset", "seed", "out_dir", "device", "compile", "data_workers", "ckpt_every", "resume")
# What makes two encoders the same architecture downstream (not the pre-training input or masking).
ENCODER_FIELDS = ("n_mels", "tokens", "patch_size", "frame_width", "enc_dim", "enc_depth", "enc_heads", "mlp_ratio",
                  "use_cls")


def result_rows(cfg: FinetuneConfig, per_fold: Sequence[dict], *, run_id: str, info: dict,
                task: tasks.TaskData) -> list[dict]:
    """Tidy rows for :func:`workbench.results.append_results`, one per (fold, metric), with every
    setting that changed the number (see :data:`workbench.results.SETTING_COLUMNS`)."""
    csv_path = Path(cfg.results_csv)
    pre = info.get("pretrain") or {}
    model_config = info.get("model_config") or {}
    # tokens, like model, builds the scratch encoder; the encoder fields record what it resolved
    # to for every init. Kept as None (not dropped) so rows of checkpoint inits keep their hash.
    downstream = {"finetune": {k: (None if k == "tokens" else v) for k, v in cfg.to_dict().items()
                               if k not in NOT_SETTINGS},
                  "encoder": {k: model_config.get(k) for k in ENCODER_FIELDS}}
    pretraining = {"pretrain": {k: v for k, v in pre.items() if k not in PRETRAIN_NOT_SETTINGS},
                   "model_config": model_config, "source": info.get("pretrain_dataset")}
    base = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "run_id": run_id,
        "out_dir": relative_path(cfg.out_dir, csv_path),
        "init": cfg.init if cfg.init in ("scratch", FLOOR) else relative_path(info["init"], csv_path),
        "pretrain_run": info.get("pretrain_run", ""), "task": task.name,
        "task_data": folder_fingerprint(task.root) if task.root else f"embedded-seed{cfg.data_seed}",
        "protocol": cfg.protocol,
        "model": info["model"], "epochs": cfg.epochs, "lr": cfg.peak_lr, "batch_size": cfg.batch_size,
        "label_fraction": cfg.label_fraction, "downstream_settings": settings_hash(downstream),
        "pretrain_dataset": info["pretrain_dataset"], "pretrain_steps": info["pretrain_step"] if pre else "",
        "pretrain_batch": info.get("pretrain_global_batch", "") if pre else "", "pretrain_lr": pre.get("lr", ""),
        "pretrain_frames": pre.get("frames", ""), "pretrain_settings": settings_hash(pretraining) if pre else "",
        "seed": cfg.seed, "pretrain_seed": pre.get("seed", ""),
    }
    return [{**base, "frames": f["frames"], "fold": f["fold"], "metric": metric, "value": f[metric]}
            for f in per_fold for metric in ("test_accuracy", "test_map", "valid_accuracy", "valid_map") if metric in f]


__all__ = ["DEFAULT_LR", "FinetuneConfig", "PROTOCOLS", "ProtocolSetup", "check_out_dir", "finetune",
           "replace_previous_run", "result_rows", "run_fold", "save_classifier", "select_folds", "setup_finetune",
           "setup_linear_probe", "write_config"]
