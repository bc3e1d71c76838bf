"""Export: a pre-training run as safetensors + config + a Hugging Face feature-extractor config,
read back by the checkpoint functions (and so by finetune --init) without pickle."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from workbench import checkpoint
from workbench.audio.frontend import AUDIOSET_STATS, normalize, wav2fbank
from workbench.checkpoint import CheckpointError
from workbench.cli import main
from workbench.export import export
from workbench.train.pretrain import PretrainConfig, pretrain

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread

INFO_KEYS = ("init", "pretrain_dataset", "pretrain_step", "model", "pretrain_run", "model_config", "pretrain",
             "pretrain_global_batch")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny pre-training run (2 steps of the nano model on 32-frame inputs)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        out = tmp_path_factory.mktemp("export") / "run"
        pretrain(PretrainConfig(dataset="stat_spectrum", model="nano", frames=32, steps=2, batch_size=2,
                                device="cpu", out_dir=str(out)), progress=False)
    return out


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    return export(run, tmp_path_factory.mktemp("exports") / "nano")


def tone(seconds, *, freq=440.0, seed=0):
    t = np.arange(int(seconds * 16000)) / 16000
    rng = np.random.default_rng(seed)
    return torch.from_numpy((0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32))


def test_export_writes_every_weight_the_run_config_and_the_feature_extractor_settings(run, exported):
    from safetensors.torch import load_file

    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    weights = load_file(str(exported / "model.safetensors"))
    assert set(weights) == set(ckpt["model"])  # encoder and decoder, nothing else
    assert any(k.startswith("decoder_blocks.") for k in weights)
    assert all(torch.equal(weights[k], ckpt["model"][k]) for k in weights)

    config = json.loads((exported / "config.json").read_text())
    assert config["format"] == "workbench-export" and config["version"] == 1
    assert config["model_config"] == ckpt["model_config"]
    assert config["norm_stats"] == ckpt["norm_stats"]
    assert config["audio_norm_stats"] == AUDIOSET_STATS.to_dict()  # pre-trained on patterns: AST's statistics
    assert config["frames"] == 32 == ckpt["config"]["frames"]
    assert config["pretrain"] == json.loads(json.dumps(ckpt["config"]))  # tuples become lists in JSON
    assert config["source"] == ckpt["source"] and config["run_id"] == ckpt["run_id"] and config["step"] == 2

    pre = json.loads((exported / "preprocessor_config.json").read_text())
    assert pre == {"feature_extractor_type": "ASTFeatureExtractor", "feature_size": 1, "sampling_rate": 16000,
                   "num_mel_bins": 128, "max_length": 32, "padding_value": 0.0, "do_normalize": True,
                   "mean": AUDIOSET_STATS.mean, "std": AUDIOSET_STATS.std,
                   "return_attention_mask": False}
    assert sorted(p.name for p in exported.parent.iterdir()) == ["nano"]  # no temporary folder left behind


def test_an_export_loads_like_its_run_without_pickle(run, exported, monkeypatch):
    def no_pickle(*args, **kwargs):
        raise AssertionError("an export must load without torch.load (pickle)")

    from_run = checkpoint.build_from_checkpoint(run)
    from_run_enc, run_info = checkpoint.load_encoder(str(run))
    monkeypatch.setattr(torch, "load", no_pickle)
    assert checkpoint.resolve(exported) == exported == checkpoint.resolve(exported / "model.safetensors")
    from_export = checkpoint.build_from_checkpoint(exported)
    assert all(torch.equal(a, b) for a, b in zip(from_run.state_dict().values(), from_export.state_dict().values()))
    encoder, info = checkpoint.load_encoder(str(exported))
    assert set(INFO_KEYS) <= set(info)
    assert info["init"] == str(exported)
    assert {k: info[k] for k in INFO_KEYS if k != "init"} == json.loads(json.dumps(
        {k: run_info[k] for k in INFO_KEYS if k != "init"}))
    x = torch.randn(2, 1, 128, 32)
    with torch.no_grad():
        assert torch.equal(encoder.forward_features(x), from_run_enc.forward_features(x))


def test_finetune_starts_from_an_export_as_from_its_run(run, exported, tmp_path):
    from workbench.train.finetune import FinetuneConfig, finetune

    root = tmp_path / "tones"  # a small folder task: two tone heights, 4 train + 2 test clips each
    for c, freq in enumerate((300.0, 3000.0)):
        for split, n in (("train", 4), ("test", 2)):
            for k in range(n):
                (root / split / f"class{c}").mkdir(parents=True, exist_ok=True)
                sf.write(str(root / split / f"class{c}" / f"{k}.wav"), tone(0.3, freq=freq, seed=k).numpy(), 16000)
    results = {}
    for name, init in (("run", run), ("export", exported)):
        results[name] = finetune(FinetuneConfig(task="folder", root=str(root), init=str(init), epochs=2, batch_size=4,
                                                device="cpu", out_dir=str(tmp_path / name), results_csv=None),
                                 progress=False)
    assert results["export"]["init"] == str(exported)
    assert results["export"]["pretrain_dataset"] == results["run"]["pretrain_dataset"] == "stat_spectrum"
    same_numbers = [(r["train_loss"], r["test_accuracy"]) for r in results["run"]["history"]]
    assert [(r["train_loss"], r["test_accuracy"]) for r in results["export"]["history"]] == same_numbers


def test_export_never_overwrites(run, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"full is not empty"):
        export(run, full)
    assert [p.name for p in full.iterdir()] == ["notes.txt"] and (full / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(run, empty) == empty and (empty / "model.safetensors").is_file()
    with pytest.raises(FileExistsError, match=r"empty is not empty"):
        export(run, empty)


def test_export_refuses_what_is_not_a_pretraining_checkpoint(tmp_path, run):
    clf = tmp_path / "classifier_foldnone.pt"
    torch.save({"classifier": {"head.weight": torch.zeros(2, 4)}, "head": "layernorm", "class_names": ["a", "b"]}, clf)
    with pytest.raises(CheckpointError, match=r"classifier_foldnone.pt is not a workbench pre-training checkpoint.*"
                                              r"fine-tuned classifier"):
        export(clf, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*nowhere"):
        export(tmp_path / "nowhere", tmp_path / "out")
    no_stats = tmp_path / "old.pt"
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    torch.save({k: v for k, v in ckpt.items() if k != "norm_stats"}, no_stats)
    with pytest.raises(CheckpointError, match=r"old.pt records no norm_stats"):
        export(no_stats, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_damaged_exports_are_named_with_what_is_wrong(run, tmp_path):
    folder = export(run, tmp_path / "exp")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"model.safetensors is not a readable safetensors file"):
        checkpoint.load(folder)
    weights.unlink()
    with pytest.raises(CheckpointError, match=r"exp is a workbench export but has no model.safetensors"):
        checkpoint.load_encoder(str(folder))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "version": 99}))
    with pytest.raises(CheckpointError, match=r"export of version 99; this workbench reads versions up to 1"):
        checkpoint.load(folder)


def test_hugging_face_ast_feature_extractor_gives_the_workbench_input(exported, monkeypatch):
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the extractor comes from the folder, never from a hub
    extractor = transformers.ASTFeatureExtractor.from_pretrained(str(exported))
    stats = checkpoint.audio_stats(checkpoint.load(exported), exported)
    for seconds in (0.2, 2.0):  # zero-padded to 32 frames, and cropped to them
        wave = tone(seconds)
        theirs = extractor(wave.numpy(), sampling_rate=16000, return_tensors="pt").input_values
        ours = normalize(wav2fbank(wave, target_frames=32), stats)  # [1, 128, 32]
        assert theirs.shape == (1, 32, 128)
        # Same Kaldi fbank; the workbench removes the clip's mean sample first (Kaldi removes each
        # frame's), which moves near-silent log-mel bins by float rounding only: <= 5e-4 before
        # normalisation (measured), scaled by 1 / (2 std) after it.
        diff = (theirs[0].T - ours[0]).abs() * (2 * stats.std)
        assert float(diff.max()) < 1e-3 and float(diff.mean()) < 1e-5


def test_cli_export_writes_the_folder_and_refuses_to_overwrite_in_one_line(run, tmp_path, capsys):
    out = tmp_path / "cli_export"
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert f"exported {run} to {out}" in capsys.readouterr().out
    assert main(["export", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "is not empty" in err and len(err.splitlines()) == 1


def test_a_run_pre_trained_on_audio_normalises_audio_with_its_own_statistics(tmp_path):
    run = tmp_path / "audio_run"
    pretrain(PretrainConfig(dataset="audio:synth_sounds", model="nano", frames=32, steps=1, batch_size=2,
                            device="cpu", out_dir=str(run)), progress=False)
    ckpt = checkpoint.load(run)
    assert checkpoint.audio_stats(ckpt, run).to_dict() == ckpt["norm_stats"]
    pre = json.loads((export(run, tmp_path / "exp") / "preprocessor_config.json").read_text())
    assert (pre["mean"], pre["std"]) == (ckpt["norm_stats"]["mean"], ckpt["norm_stats"]["std"])
