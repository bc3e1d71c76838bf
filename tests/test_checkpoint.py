"""Checkpoints: resolving a run folder, weights-only loading with errors that name the file, and the
models rebuilt from them."""

import pytest
import torch

from workbench import checkpoint, models
from workbench.checkpoint import CheckpointError, build_from_checkpoint, load_encoder
from workbench.models.classifier import AudioClassifier


def save_run(folder, model, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "model_config": model.cfg.to_dict(), "step": 0, **extra},
               folder / "checkpoint.pt")
    return folder


def test_resolve_accepts_a_run_folder_or_a_file_and_names_what_is_missing(tmp_path):
    run = save_run(tmp_path / "run", models.build("nano"))
    assert checkpoint.resolve(run) == run / "checkpoint.pt"
    assert checkpoint.resolve(run / "checkpoint.pt") == run / "checkpoint.pt"
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*nowhere"):
        checkpoint.resolve(tmp_path / "nowhere")


def test_build_from_checkpoint_restores_weights_and_takes_non_architectural_overrides(tmp_path):
    torch.manual_seed(0)
    m = models.build("nano", frames=64)
    run = save_run(tmp_path / "run", m)
    rebuilt = build_from_checkpoint(run, mask_ratio=0.5)
    assert rebuilt.cfg.mask_ratio == 0.5 and rebuilt.cfg.enc_dim == m.cfg.enc_dim
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), rebuilt.state_dict().values()))


def test_bad_files_are_named_with_what_was_expected(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.pt is empty"):
        checkpoint.load(empty)
    truncated = tmp_path / "truncated.pt"
    save_run(tmp_path / "ok", models.build("nano"))
    truncated.write_bytes((tmp_path / "ok" / "checkpoint.pt").read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"truncated.pt is not a readable checkpoint"):
        checkpoint.load(truncated)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes.pt is not a readable checkpoint"):
        checkpoint.load(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match=r"other.pt is not a workbench pre-training checkpoint .*'model'"):
        checkpoint.load(other)


class _Payload:
    """Unpickling this writes a file: proof that code from the checkpoint ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_pickle_with_a_payload_is_refused_and_the_payload_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "evil.pt"
    m = models.build("nano")
    torch.save({"model": m.state_dict(), "model_config": m.cfg.to_dict(), "extra": _Payload(str(marker))}, evil)
    for load in (checkpoint.load, build_from_checkpoint, load_encoder):
        with pytest.raises(CheckpointError, match=r"refused to load .*evil.pt"):
            load(str(evil))
    assert not marker.exists()


def test_load_encoder_takes_every_encoder_weight_and_names_missing_ones(tmp_path):
    torch.manual_seed(1)
    m = models.build("nano", tokens="frame")
    run = save_run(tmp_path / "run", m, config={"dataset": "fractaldb", "model": "nano"})
    enc, info = load_encoder(str(run))
    assert {k: info[k] for k in ("init", "pretrain_dataset", "pretrain_step", "model")} == {
        "init": str(run / "checkpoint.pt"), "pretrain_dataset": "fractaldb", "pretrain_step": 0, "model": "nano"}
    with pytest.raises(ValueError, match="--model tiny conflicts with .* holds a nano model"):
        load_encoder(str(run), model="tiny")
    assert all(torch.equal(enc.state_dict()[k], v) for k, v in m.encoder_state_dict().items())
    sd = m.state_dict()
    del sd["blocks.1.attn.qkv.weight"]
    torch.save({"model": sd, "model_config": m.cfg.to_dict(), "step": 0}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"blocks\.1\.attn\.qkv\.weight"):
        load_encoder(str(tmp_path / "bad.pt"))
    scratch, info = load_encoder("scratch", model="nano", frames=32)
    assert info["init"] == "scratch" and scratch.cfg.frames == 32


def test_classifier_trains_only_the_encoder_and_head():
    m = models.build("nano")
    clf = AudioClassifier(m, 4)
    state = clf.classifier_state_dict()
    assert set(state) == {f"encoder.{k}" for k in m.encoder_state_dict()} | {
        "head.0.weight", "head.0.bias", "head.1.weight", "head.1.bias"}
    assert clf(torch.randn(2, 1, 128, 32)).shape == (2, 4)
    trainable = {n for n, p in clf.named_parameters() if p.requires_grad}
    assert not any(n.startswith(("encoder.decoder", "encoder.head_", "encoder.mask_token")) for n in trainable)
    probe = AudioClassifier(models.build("nano"), 3, head="standardized")
    feats = torch.randn(10, 64) * 3 + 1
    probe.set_feature_stats(feats)
    assert torch.allclose(((feats - probe.feature_mean) / probe.feature_std).std(0), torch.ones(64), atol=1e-5)
    assert {"feature_mean", "feature_std", "head.weight"} <= set(probe.classifier_state_dict())
    with pytest.raises(ValueError, match="head must be one of"):
        AudioClassifier(models.build("nano"), 3, head="mlp")


def test_a_checkpoint_with_the_earlier_infonce_head_name_still_loads(tmp_path):
    m = models.build("nano")
    old = {("head_cls" + k[len("head_infonce"):] if k.startswith("head_infonce") else k): v
           for k, v in m.state_dict().items()}
    (tmp_path / "old").mkdir()
    torch.save({"model": old, "model_config": m.cfg.to_dict()}, tmp_path / "old" / "checkpoint.pt")
    rebuilt = build_from_checkpoint(tmp_path / "old")
    assert torch.equal(rebuilt.head_infonce.weight, m.head_infonce.weight)
