"""DDP under torchrun, on the CPU with gloo: the real CLI in 2 processes.

A run depends only on the global batch, not on how it is split between processes and gradient
accumulation, so 2 ranks x accum A must train like 1 process x accum 2A: same global batch, same
gradients (hence grad norms), same weights. Only rank 0 writes, and a checkpoint resumes under
another world size.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.cli import main

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")

REPO = Path(__file__).resolve().parents[1]
# warmup_steps > steps: the lr ramps up independently of --steps, so a 2-step run resumed to
# step 4 follows the same schedule as an uninterrupted 4-step run.
COMMON = ["pretrain", "--dataset", "stat_spectrum", "--model", "nano", "--frames", "32", "--batch-size", "2",
          "--lr", "2e-3", "--warmup-steps", "10", "--device", "cpu", "--seed", "3", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(out: Path, *args: str, cache: Path) -> str:
    """Run the CLI in 2 gloo processes; return their combined output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "WORKBENCH_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "workbench", *COMMON, *args, "--out", str(out)]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"torchrun failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return res.stdout


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    """2-rank runs of 2 steps with accum 1 and accum 2, by accum; each is (run folder, stdout)."""
    root = tmp_path_factory.mktemp("ddp")
    # conftest's cache isolation is per test; this module-wide fixture points at the same folder.
    cache = tmp_path_factory.getbasetemp() / "cache"
    return {accum: (root / f"accum{accum}",
                    _torchrun(root / f"accum{accum}", "--steps", "2", "--ckpt-every", "1",
                              "--accum-steps", str(accum), cache=cache))
            for accum in (1, 2)}


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def _assert_same_training(a: Path, b: Path) -> None:
    ra, rb = _records(a), _records(b)
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    for key in ("loss", "mse", "infonce", "grad_norm", "lr"):
        assert [r[key] for r in ra] == pytest.approx([r[key] for r in rb], rel=1e-5), key
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        if k.endswith("attn.qkv.bias"):
            # The key bias adds q.b to every logit of a query, which softmax ignores: its true gradient
            # is 0, so Adam turns rounding noise into lr-sized steps of either sign. Compare q and v.
            dim = wa[k].numel() // 3
            wa[k], wb[k] = (torch.cat([w[:dim], w[2 * dim:]]) for w in (wa[k], wb[k]))
        torch.testing.assert_close(wa[k], wb[k], atol=1e-5, rtol=0, msg=lambda m: f"{k}: {m}")


@pytest.mark.parametrize("accum", [1, 2])
def test_two_ranks_train_like_one_process_with_the_same_global_batch(ddp_runs, tmp_path, accum):
    ddp, _ = ddp_runs[accum]
    single = tmp_path / "single"
    assert main([*COMMON, "--steps", "2", "--accum-steps", str(2 * accum), "--out", str(single)]) == 0
    # Step 1 starts from identical weights on identical shards: loss and gradient norm agree before
    # any update could accumulate rounding differences.
    first_ddp, first_single = _records(ddp)[0], _records(single)[0]
    assert first_ddp["loss"] == pytest.approx(first_single["loss"], rel=1e-6)
    assert first_ddp["grad_norm"] == pytest.approx(first_single["grad_norm"], rel=1e-5)
    _assert_same_training(ddp, single)


def test_only_rank_zero_writes_and_prints(ddp_runs):
    run, stdout = ddp_runs[1]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.json", "metrics.json", "metrics.jsonl"]
    assert [r["step"] for r in _records(run)] == [1, 2]
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert not [k for k in ckpt["model"] if k.startswith(("module.", "_orig_mod."))]
    assert ckpt["world_size"] == 2 and ckpt["shards_done"] == 4 and ckpt["step"] == 2
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2 and config["global_batch"] == 4
    assert stdout.count("world size 2 x batch 2 x accum 1 = global batch 4; lr 0.002") == 1
    assert stdout.count('"final_loss"') == 1
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["world_size"] == 2 and summary["batch_size"] == 4


def test_resume_under_another_world_size_equals_uninterrupted(ddp_runs, tmp_path, capsys):
    resumed = tmp_path / "resumed"
    shutil.copytree(ddp_runs[1][0], resumed)
    assert main([*COMMON, "--steps", "4", "--accum-steps", "2", "--out", str(resumed), "--resume"]) == 0
    assert "global batch changed" not in capsys.readouterr().out
    uninterrupted = tmp_path / "uninterrupted"
    assert main([*COMMON, "--steps", "4", "--accum-steps", "2", "--out", str(uninterrupted)]) == 0
    _assert_same_training(resumed, uninterrupted)
    ckpt = torch.load(resumed / "checkpoint.pt", weights_only=True)
    assert ckpt["world_size"] == 1 and ckpt["shards_done"] == 8


def test_resume_with_another_global_batch_warns_and_rescales_lr(ddp_runs, tmp_path, capsys):
    resumed = tmp_path / "resumed"
    shutil.copytree(ddp_runs[1][0], resumed)
    assert main([*COMMON, "--steps", "3", "--base-batch", "4", "--out", str(resumed), "--resume"]) == 0
    out = capsys.readouterr().out
    assert ("warning: the global batch changed from 4 (world 2 x batch 2 x accum 1) "
            "to 2 (world 1 x batch 2 x accum 1) on resume") in out
    assert "world size 1 x batch 2 x accum 1 = global batch 2; lr 0.001 (--lr 0.002 x global batch 2 / " \
           "--base-batch 4)" in out
    assert "peak lr changed from 0.002 to 0.001 on resume" in out
    # Warm-up step 3 of 10 at the new peak lr; shards continue after the 4 the 2 ranks consumed.
    assert _records(resumed)[-1]["lr"] == pytest.approx(0.001 * 3 / 10)
    assert torch.load(resumed / "checkpoint.pt", weights_only=True)["shards_done"] == 5
