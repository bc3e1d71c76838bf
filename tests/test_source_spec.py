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
    assert spec.kind == "folder" and spec.absolute() == str((tmp_path / "imgs").resolve())
    assert spec.label == f"imgs-{spec.fingerprint[:6]}" and spec.result_name == spec.label
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
    assert spec.result_name == "audio:synth_sounds" and spec.identity == "audio:synth_sounds"
    (tmp_path / "ESC-50").mkdir()
    spec = parse_dataset(f"audio:esc50:{tmp_path / 'ESC-50'}")
    assert spec.kind == "audio_task" and spec.root == tmp_path / "ESC-50"
    assert spec.absolute() == f"audio:esc50:{(tmp_path / 'ESC-50').resolve()}"
    spec = parse_dataset(f"audio:{tmp_path / 'ESC-50'}")
    assert spec.kind == "audio_folder" and spec.label == f"audio_ESC-50-{spec.fingerprint[:6]}"
    assert spec.result_name == f"audio:ESC-50-{spec.fingerprint[:6]}"
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


def test_two_folders_of_one_name_are_told_apart_by_content(tmp_path):
    for where, content in (("a", b"one"), ("b", b"two")):
        (tmp_path / where / "good").mkdir(parents=True)
        (tmp_path / where / "good" / "x.png").write_bytes(content)
    a, b = (parse_dataset(str(tmp_path / w / "good")) for w in ("a", "b"))
    assert a.label != b.label and a.identity != b.identity and a.label.startswith("good-")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "good").symlink_to(tmp_path / "a" / "good")
    assert parse_dataset(str(tmp_path / "c" / "good")).identity == a.identity  # the same folder, resolved
