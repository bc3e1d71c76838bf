"""The one parser of dataset texts: patterns, folders, arrays, audio tasks and audio folders."""

import pytest

from workbench.sources.spec import parse_dataset


def test_pattern_names_and_aliases(tmp_path):
    spec = parse_dataset("fractaldb")
    assert (spec.kind, spec.name, spec.label, spec.canonical) == ("pattern", "fractaldb1k", "fractaldb1k",
                                                                 "fractaldb1k")
    assert spec.absolute() == "fractaldb"
    with pytest.raises(KeyError, match="Did you mean fractaldb"):
        parse_dataset("fractal_db")


def test_folders_and_arrays(tmp_path):
    (tmp_path / "imgs").mkdir()
    spec = parse_dataset(str(tmp_path / "imgs"))
    assert spec.kind == "folder" and spec.label == "imgs" and spec.absolute() == str((tmp_path / "imgs").resolve())
    (tmp_path / "arr").mkdir()
    (tmp_path / "arr" / "images.npy").write_bytes(b"")
    assert parse_dataset(str(tmp_path / "arr")).kind == "array"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_dataset(str(tmp_path / "missing"))
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(ValueError, match="is a file"):
        parse_dataset(str(tmp_path / "file.png"))


def test_audio_specs(tmp_path):
    spec = parse_dataset("audio:synth_sounds")
    assert (spec.kind, spec.name, spec.root, spec.label) == ("audio_task", "synth_sounds", None, "audio_synth_sounds")
    (tmp_path / "ESC-50").mkdir()
    spec = parse_dataset(f"audio:esc50:{tmp_path / 'ESC-50'}")
    assert spec.kind == "audio_task" and spec.root == tmp_path / "ESC-50"
    assert spec.absolute() == f"audio:esc50:{(tmp_path / 'ESC-50').resolve()}"
    spec = parse_dataset(f"audio:{tmp_path / 'ESC-50'}")
    assert spec.kind == "audio_folder" and spec.label == "audio_ESC-50"
    with pytest.raises(ValueError, match="reads a local copy; write audio:esc50:ROOT"):
        parse_dataset("audio:esc50")
    with pytest.raises(ValueError, match="is embedded and takes no root"):
        parse_dataset(f"audio:synth_sounds:{tmp_path}")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_dataset(f"audio:esc50:{tmp_path / 'nowhere'}")
    with pytest.raises(KeyError, match="neither an audio task nor an existing folder.*Did you mean synth_sounds"):
        parse_dataset("audio:synth_sound")
    with pytest.raises(ValueError, match="empty audio spec"):
        parse_dataset("audio:")
