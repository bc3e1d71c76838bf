import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Slow generators cache to disk; tests get their own cache and tiny pools."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("WORKBENCH_POOL_SIZE", "4")
    monkeypatch.setenv("WORKBENCH_FEATVIS_STEPS", "2")
    monkeypatch.setenv("WORKBENCH_FEATVIS_TRAIN_STEPS", "2")
    monkeypatch.setenv("WORKBENCH_FEATVIS_TRAIN_IMAGES", "8")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
