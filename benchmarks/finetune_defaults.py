"""Do the downstream defaults fit? Train and test accuracy of fine-tuning settings against the floor.

    python benchmarks/finetune_defaults.py --keywords /tmp/keywords --init runs/fdb --model tiny
    python benchmarks/finetune_defaults.py --task spoken_digits --init runs/fdb --settings new

The defaults were chosen on the embedded tasks; a new user's task is another matter.
``--keywords ROOT`` makes (once) a one-folder-per-class task the workbench has never seen: 20
English words spoken by espeak-ng (needs it on PATH), two renditions per training voice, test
voices unseen in training (1,800 training and 300 test clips of 1 s), and runs the comparison on
it (task ``folder``).

For each ``--settings`` entry and each encoder (``scratch`` unless ``--no-scratch``, and
``--init``), runs one :func:`workbench.train.finetune.finetune` and prints the last epoch's
training accuracy, the test accuracy and the wall time, with the floor (pooled log-mel statistics
+ logistic regression) on the same split above them. ``old`` is the fine-tuning the workbench
shipped before (10 epochs, lr 5e-4, layer decay 0.75, mean of the tokens); ``new`` is today's
defaults.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "cat", "dog", "bird", "tree",
         "house", "happy", "wow", "bed", "marvin", "sheila")
SETTINGS = {
    "old": {"epochs": 10, "lr": 5e-4, "layer_decay": 0.75, "pool": "mean"},
    "new": {},
}


def make_keywords(root: Path) -> None:
    """Render the keyword task into ``root/{train,test}/WORD/*.wav`` unless it is there already."""
    import soundfile as sf

    from workbench.audio.frontend import load_audio
    from workbench.audio.spoken_digits import PITCH_RANGE, SAMPLE_RATE, SPEED_RANGE, _place, _say, voices

    if (root / "test").is_dir():
        return
    train_voices, test_voices = voices(seed=7, accents_per_variant=3, test_fraction=0.25)
    rng = np.random.default_rng(0)
    jobs = [(split, voice, word, rendition, int(rng.integers(*SPEED_RANGE)), int(rng.integers(*PITCH_RANGE)),
             int(rng.integers(1 << 31)))
            for split, split_voices, renditions in (("train", train_voices, 2), ("test", test_voices, 1))
            for voice in split_voices for word in WORDS for rendition in range(renditions)]

    def render(job):
        split, voice, word, rendition, speed, pitch, seed = job
        out = root / split / word / f"{voice.replace('+', '_')}_{rendition}.wav"
        out.parent.mkdir(parents=True, exist_ok=True)
        raw = out.with_suffix(".raw.wav")
        _say(word, voice, speed, pitch, raw)
        wave = load_audio(raw).numpy()
        raw.unlink()
        sf.write(out, _place(wave, np.random.default_rng(seed)), SAMPLE_RATE)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(render, jobs))


def run_one(**settings) -> dict:
    from workbench.train.finetune import FinetuneConfig, finetune

    out = tempfile.mkdtemp(prefix="finetune_defaults_")
    try:
        start = time.perf_counter()
        metrics = finetune(FinetuneConfig(results_csv=None, out_dir=out, **settings), progress=False)
        last = metrics["history"][-1] if metrics.get("history") else {}
        return {"train": last.get("train_accuracy", float("nan")), "test": metrics["test_accuracy"],
                "s": time.perf_counter() - start}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="folder", help="a task name; folder with --keywords")
    ap.add_argument("--keywords", type=Path, help="make (once) and use the keyword folder task here")
    ap.add_argument("--init", default="scratch", help="a pre-training run to compare with scratch")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--tokens", default="frame")
    ap.add_argument("--settings", default="old,new", help=f"comma-separated, of {sorted(SETTINGS)}")
    ap.add_argument("--no-scratch", action="store_true", help="run only --init (and the floor)")
    ap.add_argument("--eval-every", type=int, default=0, help="evaluate every N epochs (0: only the last)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    unknown = [s for s in args.settings.split(",") if s not in SETTINGS]
    if unknown:
        sys.exit(f"unknown --settings {unknown}; choose from {sorted(SETTINGS)}")
    task = {"task": args.task}
    if args.keywords is not None:
        make_keywords(args.keywords)
        task = {"task": "folder", "root": str(args.keywords)}
    floor = run_one(**task, init="floor", seed=args.seed)
    print(f"{'settings':8s} {'encoder':24s} {'train acc':>9s} {'test acc':>8s} {'s':>6s}")
    print(f"{'-':8s} {'floor':24s} {floor['train']:9.3f} {floor['test']:8.3f} {floor['s']:6.0f}", flush=True)
    for name in args.settings.split(","):
        for init in dict.fromkeys((*(() if args.no_scratch else ("scratch",)), args.init)):
            row = run_one(**task, init=init, model=args.model, tokens=args.tokens, protocol="finetune",
                          eval_every=args.eval_every, seed=args.seed, **SETTINGS[name])
            print(f"{name:8s} {init[-24:]:24s} {row['train']:9.3f} {row['test']:8.3f} {row['s']:6.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
