import json

import pytest
import torch

from workbench import models, seeding
from workbench.distributed import DistInfo
from workbench.sources import make_source
from workbench.train.pretrain import NonFiniteLossError, PretrainConfig, load_history, pretrain


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Eight small smooth-noise PNGs: a cheap, learnable dataset for engine tests."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    g = torch.Generator().manual_seed(0)
    for i in range(8):
        img = torch.nn.functional.interpolate(torch.rand(1, 1, 4, 8, generator=g), size=(32, 64), mode="bilinear")
        Image.fromarray((img[0, 0].numpy() * 255).astype("uint8")).save(root / f"{i}.png")
    return str(root)


def interrupt_after_step_3(cfg: PretrainConfig) -> None:
    """Run ``cfg`` and kill it by an exception during step 4, after the step-3 checkpoint."""
    class Stop(Exception):
        pass

    def stop(rec):
        if rec["step"] == 4:
            raise Stop

    with pytest.raises(Stop):
        pretrain(cfg, progress=False, on_step=stop)


@pytest.fixture
def tiny_cfg(folder):
    def make(out, **kw):
        base = dict(dataset=folder, model="nano", frames=32, steps=6, batch_size=2, lr=2e-3,
                    warmup_steps=2, ckpt_every=3, out_dir=str(out), device="cpu")
        return PretrainConfig(**{**base, **kw})
    return make


def test_run_writes_config_metrics_and_checkpoint(tmp_path, tiny_cfg):
    m = pretrain(tiny_cfg(tmp_path), progress=False)
    assert len(m["losses"]) == 6 and m["final_loss"] == m["losses"][-1]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["final_loss"] == m["final_loss"]
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["pretrain"]["model"] == "nano" and cfg["model_config"]["enc_dim"] == 64
    assert set(cfg["norm_stats"]) == {"mean", "std"}
    assert len(load_history(tmp_path)) == 6
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 6 and {"model", "optimizer", "scheduler", "rng", "config"} <= set(ckpt)


def test_loss_falls(tmp_path, tiny_cfg):
    m = pretrain(tiny_cfg(tmp_path, steps=60, ckpt_every=60, lr=3e-3, warmup_steps=5), progress=False)
    first, last = sum(m["losses"][:5]) / 5, sum(m["losses"][-5:]) / 5
    assert last < 0.8 * first


def test_resume_equals_uninterrupted(tmp_path, tiny_cfg):
    full = pretrain(tiny_cfg(tmp_path / "full"), progress=False)
    # Interrupted: stop after 3 steps (a run whose total is 3 would change the schedule, so instead
    # train the same 6-step config and kill it via an exception after the step-3 checkpoint).
    interrupt_after_step_3(tiny_cfg(tmp_path / "part"))
    assert torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)["step"] == 3
    resumed = pretrain(tiny_cfg(tmp_path / "part", resume=True), progress=False)
    assert resumed["losses"] == full["losses"]
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["step"] for r in load_history(tmp_path / "part")] == list(range(1, 7))


def test_existing_run_is_not_overwritten(tmp_path, tiny_cfg):
    pretrain(tiny_cfg(tmp_path, steps=1), progress=False)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="resume"):
        pretrain(tiny_cfg(tmp_path, steps=1), progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_non_finite_loss_stops_with_clear_message(tmp_path, tiny_cfg):
    with pytest.raises(NonFiniteLossError, match="loss became (nan|inf) at step 1"):
        pretrain(tiny_cfg(tmp_path, lr=1e30, warmup_steps=0, steps=3, model_overrides={"mse_weight": float("inf")}),
                 progress=False)


def test_gradient_accumulation_records_mean_of_micro_batches(tmp_path, tiny_cfg):
    cfg = tiny_cfg(tmp_path, steps=1, accum_steps=2, warmup_steps=0)
    m = pretrain(cfg, progress=False)
    torch.manual_seed(cfg.seed)
    model = models.build("nano", frames=32)
    src = make_source(cfg.dataset, frames=32, seed=cfg.seed)
    losses = [float(model(src.batch(k, 2), generator=seeding.generator(cfg.seed, k, seeding.Stream.MASKS)).loss)
              for k in (0, 1)]
    assert m["losses"][0] == pytest.approx(sum(losses) / 2, rel=1e-5)


def test_pattern_dataset_trains(tmp_path):
    cfg = PretrainConfig(dataset="fractaldb", model="nano", frames=32, steps=2, batch_size=2,
                         out_dir=str(tmp_path), device="cpu")
    m = pretrain(cfg, progress=False)
    assert m["steps"] == 2 and all(map(lambda v: v == v, m["losses"]))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        PretrainConfig(steps=0)
    with pytest.raises(ValueError, match="unknown PretrainConfig keys: \\['step'\\]"):
        PretrainConfig.from_dict({"step": 3})


def test_unknown_dataset_lists_valid_names(tmp_path, tiny_cfg):
    with pytest.raises(KeyError, match="Valid names: .*fractaldb1k"):
        pretrain(tiny_cfg(tmp_path, dataset="fractal_db"), progress=False)


def test_checkpoint_from_before_sharding_resumes_exactly(tmp_path, tiny_cfg):
    """Old checkpoints lack ``shards_done``/``world_size``: they resume at shard step * accum_steps."""
    full = pretrain(tiny_cfg(tmp_path / "full", accum_steps=2), progress=False)
    interrupt_after_step_3(tiny_cfg(tmp_path / "part", accum_steps=2))
    path = tmp_path / "part" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["shards_done"] == 6 and ckpt["world_size"] == 1
    del ckpt["shards_done"], ckpt["world_size"]
    torch.save(ckpt, path)
    resumed = pretrain(tiny_cfg(tmp_path / "part", accum_steps=2, resume=True), progress=False)
    assert resumed["losses"] == full["losses"]


def test_resume_may_toggle_grad_checkpointing_but_not_the_model(tmp_path, tiny_cfg):
    """Gradient checkpointing changes memory, not the model, so a resumed run may switch it."""
    full = pretrain(tiny_cfg(tmp_path / "full", steps=4), progress=False)
    pretrain(tiny_cfg(tmp_path / "part", steps=2), progress=False)
    resumed = pretrain(tiny_cfg(tmp_path / "part", steps=4, resume=True,
                                model_overrides={"grad_checkpointing": True}), progress=False)
    assert resumed["losses"] == pytest.approx(full["losses"], rel=1e-6)
    with pytest.raises(ValueError, match=r"different model config \(enc_depth\)"):
        pretrain(tiny_cfg(tmp_path / "part", steps=5, resume=True, model_overrides={"enc_depth": 3}),
                 progress=False)


def test_base_batch_scales_lr_linearly(tmp_path, tiny_cfg, capsys):
    cfg = tiny_cfg(tmp_path, steps=1, accum_steps=2, lr=1e-3, base_batch=2, warmup_steps=0)
    assert cfg.global_batch() == 4 and cfg.effective_lr() == pytest.approx(2e-3)
    assert cfg.effective_lr(world_size=2) == pytest.approx(4e-3)
    m = pretrain(cfg, progress=False)
    assert load_history(tmp_path)[0]["lr"] == pytest.approx(2e-3) and m["lr_effective"] == pytest.approx(2e-3)
    assert ("world size 1 x batch 2 x accum 2 = global batch 4; lr 0.002 (--lr 0.001 x global batch 4 / "
            "--base-batch 2)") in capsys.readouterr().out
    with pytest.raises(ValueError, match="base_batch must be >= 0, got -1"):
        tiny_cfg(tmp_path, base_batch=-1)


def test_torchrun_environment_is_read_and_checked(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert DistInfo.from_env() == DistInfo(world_size=1, rank=0, local_rank=0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    info = DistInfo.from_env()
    assert info == DistInfo(world_size=4, rank=3, local_rank=1) and not info.is_main
    monkeypatch.delenv("LOCAL_RANK")
    with pytest.raises(RuntimeError, match="LOCAL_RANK is not: launch multi-process runs with torchrun"):
        DistInfo.from_env()


def test_cli_shortcuts_reach_the_config(tmp_path):
    from workbench.cli import main

    assert main(["pretrain", "--dataset", "stat_spectrum", "--model", "nano", "--frames", "32", "--steps", "1",
                 "--batch-size", "2", "--device", "cpu", "--no-progress", "--grad-checkpointing",
                 "--base-batch", "4", "--out", str(tmp_path)]) == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_config"]["grad_checkpointing"] is True
    assert cfg["pretrain"]["base_batch"] == 4 and cfg["lr_effective"] == pytest.approx(1e-4 * 2 / 4)


@pytest.mark.slow
def test_compiled_run_saves_plain_parameter_names(tmp_path, tiny_cfg):
    """``compile=True`` trains like eager mode, and its checkpoint loads into an uncompiled model."""
    eager = pretrain(tiny_cfg(tmp_path / "eager", steps=2), progress=False)
    compiled = pretrain(tiny_cfg(tmp_path / "compiled", steps=2, compile=True), progress=False)
    assert compiled["losses"] == pytest.approx(eager["losses"], rel=1e-4)
    state = torch.load(tmp_path / "compiled" / "checkpoint.pt", weights_only=True)["model"]
    models.build("nano", frames=32).load_state_dict(state)


def test_prefetching_workers_change_nothing_but_speed(tmp_path, tiny_cfg):
    """Batches are pure functions of their shard id: rendering them ahead in threads, with an
    interruption and resume in between, gives the same losses and weights as in-loop rendering."""
    plain = pretrain(tiny_cfg(tmp_path / "plain", accum_steps=2), progress=False)
    interrupt_after_step_3(tiny_cfg(tmp_path / "ahead", accum_steps=2, data_workers=3))
    ahead = pretrain(tiny_cfg(tmp_path / "ahead", accum_steps=2, data_workers=2, resume=True), progress=False)
    assert ahead["losses"] == plain["losses"]
    a = torch.load(tmp_path / "plain" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "ahead" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.gpu
def test_resume_on_cuda_restores_rng_states(tmp_path, tiny_cfg):
    """torch.load(map_location="cuda") moves the saved RNG byte tensors to the GPU; resuming must
    put them back on the CPU (this failed on an H100 before the fix)."""
    pretrain(tiny_cfg(tmp_path, steps=6, device="cuda"), progress=False, on_step=None)
    m = pretrain(tiny_cfg(tmp_path, steps=8, device="cuda", resume=True), progress=False)
    assert len(m["losses"]) == 8


# ---- trustworthy runs ---------------------------------------------------------------------------
def test_a_second_writer_of_the_run_folder_is_refused(tmp_path, tiny_cfg):
    import subprocess
    import sys

    from workbench.rundir import RunFolderBusy

    hold = ("import sys, time\nfrom workbench.rundir import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderBusy, match=rf"{tmp_path} is being written by .*pid {proc.pid}"):
            pretrain(tiny_cfg(tmp_path), progress=False)
        assert not (tmp_path / "metrics.jsonl").exists()
    finally:
        proc.kill()
        proc.wait()


def test_a_folder_holding_a_run_is_refused_even_without_its_checkpoint(tmp_path, tiny_cfg):
    from workbench.rundir import RunExistsError

    pretrain(tiny_cfg(tmp_path, steps=1), progress=False)
    (tmp_path / "checkpoint.pt").unlink()
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(RunExistsError, match=r"already holds a run \(config.json, metrics.json, metrics.jsonl\)"):
        pretrain(tiny_cfg(tmp_path, steps=1), progress=False)
    with pytest.raises(FileNotFoundError, match="has no checkpoint.pt to continue"):
        pretrain(tiny_cfg(tmp_path, steps=2, resume=True), progress=False)
    assert (tmp_path / "config.json").read_text() == before


def test_resume_without_any_run_says_so_and_leaves_no_folder(tmp_path, tiny_cfg):
    with pytest.raises(FileNotFoundError, match="has no checkpoint.pt to continue"):
        pretrain(tiny_cfg(tmp_path / "new", resume=True), progress=False)
    assert not (tmp_path / "new").exists()


def test_resume_refuses_another_dataset_or_seed_naming_them(tmp_path, tiny_cfg):
    pretrain(tiny_cfg(tmp_path, steps=2), progress=False)
    with pytest.raises(ValueError, match=r"continues another run \(dataset: .* then, 'stat_spectrum' now\)"):
        pretrain(tiny_cfg(tmp_path, steps=3, resume=True, dataset="stat_spectrum"), progress=False)
    with pytest.raises(ValueError, match=r"seed: 0 then, 1 now"):
        pretrain(tiny_cfg(tmp_path, steps=3, resume=True, seed=1), progress=False)


def test_resume_with_fewer_steps_rewrites_nothing(tmp_path, tiny_cfg):
    pretrain(tiny_cfg(tmp_path, steps=4), progress=False)
    files = {n: (tmp_path / n).read_bytes() for n in ("config.json", "metrics.json", "metrics.jsonl", "checkpoint.pt")}
    m = pretrain(tiny_cfg(tmp_path, steps=2, resume=True), progress=False)
    assert m["steps"] == 4
    assert all((tmp_path / n).read_bytes() == b for n, b in files.items())


def test_a_checkpoint_of_an_earlier_version_resumes_through_the_safe_path(tmp_path, tiny_cfg):
    """Earlier versions kept numpy's and Python's RNG states as the tuples they return."""
    import random

    import numpy as np

    full = pretrain(tiny_cfg(tmp_path / "full"), progress=False)
    interrupt_after_step_3(tiny_cfg(tmp_path / "part"))
    path = tmp_path / "part" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    np.random.seed(7)
    random.seed(7)
    ckpt["rng"]["numpy"], ckpt["rng"]["python"] = np.random.get_state(), random.getstate()
    for key in ("run_id", "source"):
        del ckpt[key]
    torch.save(ckpt, path)
    resumed = pretrain(tiny_cfg(tmp_path / "part", resume=True), progress=False)
    assert resumed["losses"] == full["losses"]


def test_a_mask_ratio_that_removes_no_token_is_an_error(tmp_path, tiny_cfg):
    with pytest.raises(ValueError, match=r"mask_ratio=0.01 removes no token of the 16 patch tokens"):
        pretrain(tiny_cfg(tmp_path / "r", mask_ratio=0.01), progress=False)
    assert not (tmp_path / "r").exists()


def test_out_of_memory_names_the_batch_and_what_to_change(tmp_path, tiny_cfg, monkeypatch):
    from workbench.models.mae import MaskedAutoencoder
    from workbench.train.pretrain import OutOfMemory

    def oom(self, x, mask=None, *, generator=None):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(MaskedAutoencoder, "forward", oom)
    with pytest.raises(OutOfMemory, match=r"--batch-size 2 \(global batch 2.*--accum-steps.*--grad-checkpointing"):
        pretrain(tiny_cfg(tmp_path), progress=False)
