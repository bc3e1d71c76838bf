"""notebooks/01_patterns.ipynb and its helpers (workbench.patterns.gallery): committed stripped,
one parameters cell, runs under papermill."""

import ast
import json
from pathlib import Path

import nbformat
import pytest
import torch

import workbench.patterns as patterns
from workbench.viz import gallery

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_patterns.ipynb"


def test_notebook_is_stripped_with_one_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for c in code:
        assert c.outputs == [] and c.execution_count is None, "commit the notebook with outputs stripped"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    body = ast.parse(params[0].source).body
    assert body and all(isinstance(s, ast.AnnAssign) and isinstance(s.value, ast.Constant) for s in body), \
        "the parameters cell holds annotated literals only"
    assert {s.target.id for s in body} == {"datasets", "n_per_dataset", "seed", "frames", "out_dir", "figures_dir"}


@pytest.mark.notebooks
def test_notebook_runs_with_tiny_parameters(tmp_path):
    papermill = pytest.importorskip("papermill")
    names = ["fractaldb1k"] + [n for n in ("procedural_audio", *patterns.names()) if n != "fractaldb1k"
                               and patterns.is_registered(n)][:1]
    out_dir, figures = tmp_path / "run", tmp_path / "figures"
    papermill.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
        parameters={"datasets": ",".join(names), "n_per_dataset": 2, "seed": 0, "frames": 64,
                    "out_dir": str(out_dir), "figures_dir": str(figures)})
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["datasets"] == [patterns.get(n).name for n in names]
    assert metrics["n"] == 2
    rows = metrics["properties"]
    assert [r["name"] for r in rows] == metrics["datasets"]
    assert all(0.0 <= r["mean"] <= 1.0 and r["entropy"] >= 0.0 for r in rows)
    assert (out_dir / "patterns_gallery.png").stat().st_size > 0
    assert (figures / "patterns_gallery.png").stat().st_size > 0
    if "procedural_audio" in names:
        assert list((out_dir / "audio").glob("*.wav"))


def test_resolve_names():
    assert gallery.resolve_names("all") == patterns.names()
    assert gallery.resolve_names(" fractaldb ,") == ["fractaldb1k"]
    with pytest.raises(KeyError, match="Valid names"):
        gallery.resolve_names("fractaldb,nope")
    with pytest.raises(ValueError, match="no datasets"):
        gallery.resolve_names(",")


def test_render_samples_spectrogram_is_generate():
    (s,) = gallery.render_samples(["fractaldb"], n=2, seed=4, frames=64)
    assert s.name == "fractaldb1k" and s.native.shape[:2] == (2, 1) and s.labels.shape == (2,)
    assert torch.allclose(s.spectrogram, patterns.generate("fractaldb", 2, seed=4, frames=64), atol=1e-6)
    long, table = gallery.sample_properties([s])
    assert len(table) == 1 and set(long["image"]) == {0, 1}
    assert table.loc[0, "entropy"] == pytest.approx(long[long["property"] == "entropy"]["value"].mean())


def test_audio_examples_are_the_generated_clips(tmp_path):
    if not patterns.is_registered("procedural_audio"):
        pytest.skip("procedural_audio is not registered")
    import soundfile as sf

    from workbench.audio.frontend import logmel_batch
    from workbench.patterns.convert import minmax_per_sample

    paths = gallery.write_audio_examples(2, seed=3, frames=32, out_dir=tmp_path)
    waves = []
    for p in paths:
        w, rate = sf.read(p, dtype="float32")
        assert rate == 16000 and w.shape == (400 + 160 * 31,)
        waves.append(torch.from_numpy(w))
    heard = minmax_per_sample(logmel_batch(torch.stack(waves))[:, None])
    shown = patterns.generate("procedural_audio", 2, seed=3, frames=32)
    # 16-bit WAV quantisation only moves the quietest log-mel bins.
    assert (heard - shown).abs().median() < 0.005
    with pytest.raises(ValueError, match="not a procedural-audio source"):
        gallery.write_audio_examples(1, seed=0, frames=32, out_dir=tmp_path, name="fractaldb")
