"""The registry helper shared by model presets, patterns, tasks and sweep presets."""

import pytest

from workbench.registry import Registry, did_you_mean


def test_register_get_aliases_and_duplicates():
    reg = Registry("widget")
    reg.add("alpha", 1, aliases=("a",))
    reg.add("beta", 2)
    assert reg.get("a") == 1 and reg.canonical("a") == "alpha" and reg.names() == ["alpha", "beta"]
    assert "a" in reg and "gamma" not in reg and len(reg) == 2
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        reg.add("a", 3)
    with pytest.raises(KeyError, match=r"unknown widget 'alpah'\. Did you mean alpha\? Valid widgets: alpha, beta"):
        reg.get("alpah")


def test_did_you_mean_is_empty_when_nothing_is_close():
    assert did_you_mean("zzz", ["alpha", "beta"]) == ""
    assert did_you_mean("bet", ["alpha", "beta"]) == " Did you mean beta?"


def test_every_registry_of_the_workbench_uses_it():
    from workbench import models, patterns
    from workbench.audio import tasks
    from workbench.sweep import PRESETS

    for get, bad in ((models.config, "tinyy"), (patterns.get, "fractaldbb"), (tasks.get, "esc5"),
                     (PRESETS.get, "cpuu")):
        with pytest.raises(KeyError, match="Did you mean"):
            get(bad)
