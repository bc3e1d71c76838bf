"""The config base: typed from_dict, to_dict, range checks and help text from comments."""

from dataclasses import dataclass

import pytest

from workbench.config import Config, ConfigTypeError, setting


@dataclass
class Example(Config):
    """A config for the tests."""

    steps: int = setting(3, min=1)  # how many steps
    ratio: float = setting(0.5, min=0.0, below=1.0)  # a fraction
    mode: str = setting("a", choices=("a", "b"))  # which mode
    lr: float | None = None  # none means the default
    pair: tuple[float, float] = (0.9, 0.98)
    sizes: tuple[int, ...] = (3, 4)
    flag: bool = False
    extra: dict = setting(factory=dict, cli=False)


def test_round_trip_and_widening():
    cfg = Example.from_dict({"steps": 2, "ratio": 0, "pair": [0.1, 0.2], "sizes": [5], "lr": 1})
    assert cfg.ratio == 0.0 and isinstance(cfg.ratio, float) and cfg.pair == (0.1, 0.2) and cfg.sizes == (5,)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert Example.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["pair"] == [0.1, 0.2]


def test_unknown_keys_and_wrong_types_are_named():
    with pytest.raises(ValueError, match=r"unknown Example keys: \['step'\]; valid keys: .*'steps'"):
        Example.from_dict({"step": 3})
    with pytest.raises(ConfigTypeError, match=r"Example.steps must be int, got '3' \(str\)"):
        Example.from_dict({"steps": "3"})
    with pytest.raises(ConfigTypeError, match="Example.flag must be bool, got 1"):
        Example(flag=1)
    with pytest.raises(ConfigTypeError, match="Example.steps must be int, got True"):
        Example(steps=True)
    with pytest.raises(ConfigTypeError, match=r"Example.pair must be tuple\[float, float\]"):
        Example(pair=(1.0, 2.0, 3.0))
    assert isinstance(ConfigTypeError("x"), TypeError)


def test_ranges_and_choices_report_every_bad_value():
    with pytest.raises(ValueError, match="steps must be >= 1, got 0; ratio must be < 1.0, got 1.0"):
        Example(steps=0, ratio=1.0)
    with pytest.raises(ValueError, match="mode must be one of 'a', 'b', got 'c'"):
        Example(mode="c")


def test_help_comes_from_the_field_comments():
    helps = Example.field_help()
    assert helps["steps"] == "how many steps" and helps["lr"] == "none means the default" and helps["flag"] == ""


def test_from_json_reads_a_section_and_names_a_bad_file(tmp_path):
    (tmp_path / "config.json").write_text('{"example": {"steps": 7}, "other": 1}')
    assert Example.from_json(tmp_path, section="example").steps == 7
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not a JSON config file"):
        Example.from_json(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="no config file at"):
        Example.from_json(tmp_path / "missing.json")


def test_notebook_parameters_are_checked_against_their_annotations():
    from workbench.config import check_parameters

    namespace = {"__annotations__": {"steps": int, "lr": float, "fold": str | int, "name": str},
                 "steps": 3, "lr": 1, "fold": 5, "name": "x"}
    check_parameters(namespace)
    assert namespace["lr"] == 1.0 and isinstance(namespace["lr"], float)
    namespace.update(steps=2.5, name=7)
    with pytest.raises(ConfigTypeError, match=r"steps must be int, got 2.5 \(float\); name must be str, got 7"):
        check_parameters(namespace)
