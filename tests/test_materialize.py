"""Materialising a pattern dataset to PNGs and reading it back with the image-folder dataset."""

import json

import pytest
import torch

import workbench.patterns as patterns
from workbench.sources.images import ImageFolder
from workbench.sources.materialize import MANIFEST, batch_seed, materialize

FRAMES = 64


def _expected(name: str, num: int, *, seed: int, batch_size: int) -> tuple[torch.Tensor, list]:
    """The generated samples, batch by batch as materialize renders them, quantised to uint8 / 255."""
    images, labels = [], []
    for b in range(-(-num // batch_size)):
        out = patterns.generate_with_labels(name, batch_size, seed=batch_seed(seed, b), frames=FRAMES)
        images.append(out.images)
        labels.extend(out.labels.tolist() if out.labels is not None else [None] * batch_size)
    x = torch.cat(images)[:num]
    return (x * 255).round() / 255, labels[:num]


def _read_back(root) -> dict[int, tuple[torch.Tensor, str]]:
    ds = ImageFolder(root, frames=FRAMES)
    return {int(p.stem): (ds[i][0], p.parent.name) for i, p in enumerate(ds.files)}


def test_round_trip_labelled(tmp_path):
    out = materialize("fractaldb", 3, tmp_path / "fdb", seed=5, frames=FRAMES, batch_size=2,
                      progress=False, stats_samples=2)
    expected, labels = _expected("fractaldb1k", 3, seed=5, batch_size=2)
    got = _read_back(out)
    assert sorted(got) == [0, 1, 2]
    for i, (img, folder) in got.items():
        assert img.shape == (1, 128, FRAMES)
        assert torch.equal(img, expected[i]), f"sample {i} differs after the PNG round trip"
        assert folder == f"label_{labels[i]:03d}"
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["name"] == "fractaldb1k" and manifest["seed"] == 5 and manifest["count"] == 3
    assert manifest["frames"] == FRAMES and manifest["complete"] is True
    assert manifest["norm_stats"]["std"] > 0


def test_first_batch_is_generate(tmp_path):
    out = materialize("fractaldb", 2, tmp_path, seed=3, frames=FRAMES, progress=False, stats_samples=1)
    x = patterns.generate("fractaldb", 2, seed=3, frames=FRAMES)
    got = _read_back(out)
    assert all(torch.equal(got[i][0], (x[i] * 255).round() / 255) for i in range(2))


def test_resume_skips_existing_and_refuses_other_settings(tmp_path):
    out = materialize("fractaldb", 2, tmp_path, seed=0, frames=FRAMES, batch_size=1, progress=False,
                      stats_samples=1)
    first = sorted(out.rglob("*.png"))
    mtimes = {p: p.stat().st_mtime_ns for p in first}
    victim = first[1]
    victim.unlink()
    materialize("fractaldb", 2, tmp_path, seed=0, frames=FRAMES, batch_size=1, progress=False,
                stats_samples=1)
    assert sorted(out.rglob("*.png")) == first  # the deleted sample is back, under the same label
    assert first[0].stat().st_mtime_ns == mtimes[first[0]]  # the other one was not rewritten
    with pytest.raises(ValueError, match="seed"):
        materialize("fractaldb", 2, tmp_path, seed=1, frames=FRAMES, batch_size=1, progress=False,
                    stats_samples=1)


def test_unlabelled_dataset_is_flat(tmp_path):
    unlabelled = [n for n in patterns.names() if patterns.get(n).num_classes is None]
    if not unlabelled:
        pytest.skip("no unlabelled pattern dataset is registered yet")
    name = unlabelled[0]
    out = materialize(name, 2, tmp_path, frames=FRAMES, progress=False, stats_samples=1)
    assert sorted(p.name for p in out.glob("*.png")) == ["000000.png", "000001.png"]
    ds = ImageFolder(out, frames=FRAMES)
    assert ds.num_classes is None
    expected, _ = _expected(name, 2, seed=0, batch_size=2)
    assert all(torch.equal(ds[i][0], expected[i]) for i in range(2))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="fmt must be one of png, bmp"):
        materialize("fractaldb", 1, tmp_path, fmt="jpg", progress=False)
    with pytest.raises(ValueError, match="num"):
        materialize("fractaldb", 0, tmp_path, progress=False)
    with pytest.raises(KeyError, match="Valid names"):
        materialize("no_such_pattern", 1, tmp_path, progress=False)


def test_a_folder_with_files_materialize_did_not_write_is_refused(tmp_path):
    from workbench.sources.materialize import materialize

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("do not touch")
    with pytest.raises(ValueError, match=r"holds files that `patterns materialize` did not write \(thesis.tex\)"):
        materialize("stat_spectrum", 2, tmp_path / "mine", frames=16, progress=False)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["thesis.tex"]
