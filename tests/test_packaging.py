"""environment.yml (for conda users) must install what pyproject.toml + constraints.txt install."""

import re
import tomllib
from pathlib import Path

import yaml

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


def test_environment_yml_matches_pyproject_and_constraints():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r): r.split("==")[1] for r in pip_section if "==" in r}
    project = _project()
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    pins = _pins()
    assert wanted <= set(listed), f"missing from environment.yml: {sorted(wanted - set(listed))}"
    assert set(listed) <= wanted, f"environment.yml lists extras: {sorted(set(listed) - wanted)}"
    wrong = {n: (v, pins.get(n)) for n, v in listed.items() if pins.get(n) != v}
    assert not wrong, f"environment.yml pins differ from constraints.txt: {wrong}"
    assert "-e ." in pip_section


def test_every_dependency_is_pinned_and_torch_pair_matches():
    pins = _pins()
    project = _project()
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert _name(req) in pins, f"{req} has no pin in constraints.txt"
    assert pins["torch"] == pins["torchaudio"] == "2.11.0"


def test_python_version_agrees():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    py = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = _project()["requires-python"].lstrip(">=")
    assert tuple(map(int, py.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))
