"""pyproject.toml (ranges), constraints.txt (exact pins) and environment.yml (for conda users) agree:
every dependency of every extra is pinned, each pin lies in its range, environment.yml installs
what pip installs, and the dev extra (what CI installs) holds every other extra."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements() -> list[str]:
    """Main dependencies and those of every extra."""
    project = _project()
    return project["dependencies"] + [r for reqs in project["optional-dependencies"].values() for r in reqs]


def _environment_pip() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def test_environment_yml_matches_pyproject_and_constraints():
    pip_section = _environment_pip()
    listed = {_name(r): r.split("==")[1] for r in pip_section if "==" in r}
    wanted = {_name(r) for r in _requirements()}
    pins = _pins()
    assert wanted <= set(listed), f"missing from environment.yml: {sorted(wanted - set(listed))}"
    assert set(listed) <= wanted, f"environment.yml lists extras: {sorted(set(listed) - wanted)}"
    wrong = {n: (v, pins.get(n)) for n, v in listed.items() if pins.get(n) != v}
    assert not wrong, f"environment.yml pins differ from constraints.txt: {wrong}"
    assert "-e ." in pip_section


def test_every_dependency_is_pinned_within_its_range():
    pins = _pins()
    for req in _requirements():
        name = _name(req)
        assert name in pins, f"{req} has no pin in constraints.txt"
        assert Requirement(req).specifier.contains(pins[name], prereleases=True), \
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject.toml's {req}"


def test_dev_extra_holds_every_other_extra():
    """CI installs '.[dev]', so a test that needs an optional package must find it there."""
    extras = _project()["optional-dependencies"]
    dev = {_name(r) for r in extras["dev"]}
    for extra, reqs in extras.items():
        missing = {_name(r) for r in reqs} - dev
        assert not missing, f"the {extra} extra's {sorted(missing)} are not in the dev extra"


def test_notebooks_extra_runs_the_notebooks_and_jupyterlab():
    notebooks = {_name(r) for r in _project()["optional-dependencies"]["notebooks"]}
    assert {"papermill", "ipykernel", "jupyterlab"} <= notebooks
    assert Version(_pins()["jupyterlab"]).major == 4


# torchaudio's last release line is 2.11; each of its builds loads with some torch releases only.
# Checked by importing torchaudio and comparing fbank and resampling with the 2.11.0 pair (identical):
# torchaudio 2.11.0 (CUDA 13.0) refuses torch 2.15 ("compiled with different CUDA versions"), and
# 2.11.1 (CUDA 13.2) fails to load with torch 2.11 (undefined symbol in libtorchaudio.so).
TESTED_TORCH_PAIRS = {("2.11.0", "2.11.0"), ("2.15.0", "2.11.1")}


def test_torch_and_torchaudio_are_a_tested_pair():
    pins = _pins()
    pair = (pins["torch"], pins["torchaudio"])
    assert pair in TESTED_TORCH_PAIRS, f"torch {pair[0]} with torchaudio {pair[1]} is not a tested pair"


def test_python_version_agrees():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    py = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = _project()["requires-python"].lstrip(">=")
    assert tuple(map(int, py.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))
