"""dvc.yaml declares, for each stage, the project code it runs (transitive imports, by package) and its params."""

import ast
from pathlib import Path

import yaml

from pipeline.config import Params

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "rl", "metrics", "reporting", "stages")


def module_file(name: str) -> Path | None:
    path = ROOT / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def project_imports(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """Every project file `path` imports, transitively (including imports inside functions)."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] not in PACKAGES:
                continue
            parts = name.split(".")
            # importing a.b.c runs a/__init__.py and a/b/__init__.py first
            for found in [module_file(".".join(parts[:i])) for i in range(1, len(parts))] + [module_file(name)]:
                if found and found not in seen and found.read_text().strip() and "import" in found.read_text():
                    seen.add(found)
                    project_imports(found, seen)
    return seen


def stage_code(name: str) -> set[Path]:
    """What `python -m stages.<name>` runs: the stages package's __init__ first (it pins the CPU kernels), then the
    module, each with what it imports."""
    module, init = ROOT / "stages" / f"{name}.py", ROOT / "stages" / "__init__.py"
    package = {init} | project_imports(init) if "import" in init.read_text() else set()
    return {module} | project_imports(module) | package


def declared(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


def stages():
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_code_deps_cover_every_imported_project_module():
    for name, stage in stages().items():
        assert stage["cmd"].split(" --")[0] == f"python -m stages.{name}"
        deps = declared(stage)
        needed = stage_code(name)
        missing = sorted(p.relative_to(ROOT).as_posix() for p in needed if not covered(p, deps))
        assert not missing, f"stage {name}: code deps missing {missing}"


def test_code_deps_are_packages_or_imported_files_and_nothing_unused():
    """Library code is declared as package folders (one `dvc exp show` column each) or, where the rest of a package
    must not rerun a stage (evaluate imports two modules of the report layer), as single files; stage modules file by
    file; and no stage declares a package or module it does not import."""
    libraries = [p for p in PACKAGES if p != "stages"]
    for name, stage in stages().items():
        needed = {p.relative_to(ROOT).as_posix() for p in stage_code(name)}
        code = [d for d in declared(stage) if d.endswith(".py") or d.split("/")[0] in libraries]
        assert all(d in libraries or d.endswith(".py") for d in code), f"stage {name}: a library folder inside a package: {code}"
        unused = [d for d in code if not any(n == d or n.startswith(d + "/") for n in needed)]
        assert not unused, f"stage {name}: declares code it does not import: {unused}"


def test_only_evaluate_depends_on_plugin_metrics_and_the_summary_layout():
    """Adding a plug-in metric (plugins/, params evaluate.metrics) or changing the DVC metrics file's layout
    (reporting/summary.py) reruns evaluate and report, never a training or sampling stage."""
    for name, stage in stages().items():
        deps = declared(stage)
        assert ("plugins" in deps) == (name == "evaluate"), f"stage {name}"
        if name not in ("evaluate", "report"):
            assert not [d for d in deps if d.startswith("reporting")], f"stage {name} depends on the report layer"
            assert not [p for p in stage.get("params", []) if p in ("evaluate", "evaluate.metrics")], f"stage {name}"


def test_params_sections_exist():
    fields = Params.model_fields
    for name, stage in stages().items():
        for entry in stage.get("params", []):
            if isinstance(entry, dict):  # `- params.yaml:` (no keys): the whole file, as the validate stage tracks it
                assert entry == {"params.yaml": None} and name == "validate", f"stage {name}: {entry}"
                continue
            section = entry.split(".")[0]
            assert section in fields, f"stage {name}: unknown params key {entry}"


def test_every_stage_runs_after_validate():
    """validate checks the whole params.yaml; every other stage must come after it (through prepare), or DVC could
    delete that stage's outputs before a bad key is refused."""
    all_stages = stages()
    assert all_stages["validate"]["params"] == [{"params.yaml": None}]
    marker = next(iter(all_stages["validate"]["outs"][0]))
    assert all_stages["validate"]["outs"][0][marker] == {"cache": False, "persist": True}
    outputs = {name: {next(iter(o)) if isinstance(o, dict) else o for o in st.get("outs", [])} for name, st in all_stages.items()}

    def upstream(name: str, seen: set[str]) -> set[str]:
        deps = set(all_stages[name].get("deps", []))
        for other, outs in outputs.items():
            if other not in seen and any(d == o or d.startswith(o + "/") or o.startswith(d + "/") for d in deps for o in outs):
                seen.add(other)
                upstream(other, seen)
        return seen

    assert [n for n in all_stages if n != "validate" and "validate" not in upstream(n, set())] == []


def test_curve_folders_match_dvc_rendering_for_int_and_float_knobs(tmp_path):
    """Issue 26 case 4: `curves.ppo_kl_coef: [0.05, 0.2, 1]` trained ppo@1 into kl1.0 while dvc.yaml expects kl1 (DVC
    renders str() of the YAML value). Every curve stage's rendered outputs must be the folders the stage writes, for
    the knob its rendered command passes."""
    import shutil

    from dvc.repo import Repo

    from pipeline.config import CURVE_KNOBS, curve_model_dir, curve_results_dir, load_params, parse_params
    from pipeline.profiles import render
    from pipeline.stage import parse_knob

    curves = {"ppo_kl_coef": [0.05, 0.2, 1, 0], "dpo_beta": [1, 0.5], "rloo_kl_coef": [0, 2.0], "grpo_kl_coef": [3, 1e-05]}
    raw = yaml.safe_load(render(parse_params({}), "default")) | {"curves": curves}  # as a user writes them: 1, not 1.0
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    params = load_params(tmp_path / "params.yaml")
    Repo.init(str(tmp_path), no_scm=True)
    rendered = {s.addressing.split(":")[-1]: s for s in Repo(str(tmp_path)).index.stages}
    seen = set()
    for method, key in CURVE_KNOBS.items():
        for stage in (s for name, s in rendered.items() if name.startswith(f"{method}@")):
            flag, value = stage.cmd.split()[-2:]
            knob = parse_knob([flag, value], method, flag, getattr(params.curves, key), f"curves.{key}")
            outs = {o.def_path for o in stage.outs}
            assert curve_model_dir(method, knob).as_posix() in outs, (stage.addressing, outs)
            assert (curve_results_dir(method, knob) / "metrics.json").as_posix() in outs, (stage.addressing, outs)
            seen.add((method, str(knob)))
    assert seen == {(m, str(k)) for m, key in CURVE_KNOBS.items() for k in curves[key]}
    assert curve_model_dir("ppo", params.curves.ppo_kl_coef[2]).as_posix() == "models/ppo/kl1"  # not kl1.0
    assert curve_model_dir("rloo", params.curves.rloo_kl_coef[0]).as_posix() == "models/rloo/kl0"
