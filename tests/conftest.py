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


@pytest.fixture
def one_thread():
    """One intra-op thread for tests of tiny tensors: a second thread only adds synchronisation,
    which costs a lot when the cores are shared with other processes. Opt in per module with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
