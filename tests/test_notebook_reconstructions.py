import json
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT_S = 600  # a wedged kernel fails the test instead of hanging it
NOTEBOOK = ROOT / "notebooks" / "03_reconstructions.ipynb"


def run(tmp_path, **parameters):
    pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="python3",
                        parameters=parameters, progress_bar=False, cwd=str(tmp_path),
                        execution_timeout=CELL_TIMEOUT_S)
    return json.loads((Path(parameters["out_dir"]) / "metrics.json").read_text())


@pytest.mark.notebooks
def test_without_a_run_it_trains_one_and_saves_the_figures(tmp_path):
    out, figs = tmp_path / "recon", tmp_path / "figures"
    metrics = run(tmp_path, run_dir="", train_steps=3, train_frames=32, train_batch_size=2, train_pool=8, n_samples=2,
                  mask_ratio=0.75, mask_ratios="0.5,0.75", masking="chunk", out_dir=str(out),
                  figures_dir=str(figs))
    assert (out / "pretrain" / "checkpoint.pt").is_file()  # the fallback run
    assert metrics["model"] == "nano" and metrics["frames"] == 32 and metrics["masking"] == "chunk"
    assert set(metrics["mean_loss_per_mask_ratio"]) == set(metrics["mean_mse_per_mask_ratio"]) == {"0.5", "0.75"}
    assert all(v > 0 for v in metrics["mean_mse_per_mask_ratio"].values())
    assert metrics["explorer"]["masked_fraction"] == 0.75  # 16 tokens at 32 frames: 12 removed
    for name in ("reconstructions_explorer.png", "reconstructions_by_ratio.png", "token_loss.png"):
        assert (out / name).stat().st_size > 1000
    assert (figs / "reconstructions_explorer.png").stat().st_size > 1000


@pytest.mark.notebooks
def test_loads_a_given_run_and_reconstructs_another_dataset(tmp_path):
    from PIL import Image
    import torch

    from workbench.train.pretrain import PretrainConfig, pretrain

    folder = tmp_path / "images"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(4):
        img = torch.nn.functional.interpolate(torch.rand(1, 1, 4, 8, generator=g), size=(32, 64), mode="bilinear")
        Image.fromarray((img[0, 0].numpy() * 255).astype("uint8")).save(folder / f"{i}.png")
    run_dir = tmp_path / "run"
    pretrain(PretrainConfig(dataset=str(folder), model="nano", tokens="frame", frames=32, steps=2, batch_size=2,
                            warmup_steps=1, out_dir=str(run_dir), device="cpu"), progress=False)
    out = tmp_path / "recon"
    metrics = run(tmp_path, run_dir=str(run_dir), dataset=str(folder), frames=48, n_samples=2,
                  mask_ratios="0.25", mask_ratio=0.5, audio="", out_dir=str(out))
    assert metrics["tokens"] == "frame" and metrics["frames"] == 48 and metrics["dataset"] == str(folder)
    assert list(metrics["mean_loss_per_mask_ratio"]) == ["0.25"]
    assert metrics["explorer"]["masked_fraction"] == 0.5  # 24 frame tokens: 12 removed
    assert not (out / "pretrain").exists()  # nothing trained when a run is given
