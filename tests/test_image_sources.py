import pytest
import torch
from PIL import Image

from workbench.sources import make_source
from workbench.sources.images import ImageFolder, ImageFolderError


def write(path, value, size=(40, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, value).save(path)


def test_classes_from_subfolders(tmp_path):
    write(tmp_path / "b" / "1.png", (255, 255, 255))
    write(tmp_path / "a" / "1.jpg", (0, 0, 0))
    ds = ImageFolder(tmp_path, frames=64)
    assert ds.classes == ["a", "b"] and len(ds) == 2
    x, y = ds[1]
    assert x.shape == (1, 128, 64) and y == 1 and torch.allclose(x, torch.ones_like(x))


def test_flat_folder_has_no_labels(tmp_path):
    write(tmp_path / "x.png", (10, 200, 30))
    x, y = ImageFolder(tmp_path, frames=32)[0]
    assert y == -1
    luma = (0.299 * 10 + 0.587 * 200 + 0.114 * 30) / 255
    assert torch.allclose(x, torch.full_like(x, luma), atol=1e-3)


def test_empty_and_missing_folders_raise(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ImageFolderError, match="no images .* found under"):
        ImageFolder(tmp_path)
    with pytest.raises(ImageFolderError, match="not found"):
        ImageFolder(tmp_path / "missing")


def test_unreadable_image_is_named(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ImageFolderError, match="bad.png"):
        ImageFolder(tmp_path)[0]


def test_folder_source_batches_are_reproducible_and_cover_epochs(tmp_path):
    for i in range(5):
        write(tmp_path / f"{i}.png", (i * 50, i * 50, i * 50))
    src = make_source(str(tmp_path), frames=16, seed=3)
    assert torch.equal(src.batch(2, 4), src.batch(2, 4))
    seen = src.indices(0, 5)
    assert sorted(seen) == list(range(5))  # one epoch is a permutation
    other = make_source(str(tmp_path), frames=16, seed=4)
    assert [src.indices(s, 5) for s in range(3)] != [other.indices(s, 5) for s in range(3)]  # seeds differ


def test_materialized_label_folders_keep_category_ids(tmp_path):
    write(tmp_path / "label_007" / "0.png", (0, 0, 0))
    write(tmp_path / "label_933" / "1.png", (0, 0, 0))
    ds = ImageFolder(tmp_path, frames=16)
    assert sorted(ds.labels) == [7, 933] and ds.num_classes == 934
