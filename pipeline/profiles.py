"""Write params.yaml for a profile: the keys that define an experiment, plus every key the profile changes.

    python -m pipeline.profiles default            # the embedded CPU run (the committed params.yaml)
    python -m pipeline.profiles tiny               # seconds-long smoke run (tests use it)
    python -m pipeline.profiles gpu                # larger models/batches for one GPU
    python -m pipeline.profiles default --all --out -   # every key, its default and its meaning
Profiles live in profiles/<name>.yaml as partial overrides; every key is validated.

A key params.yaml leaves out takes its default from pipeline/config.py, which every stage depends on, so
DVC still reruns what a changed default touches; `dvc exp run -S +section.key=value` adds one for an experiment.
Writing only the experiment's keys keeps `dvc exp show` to the columns a reader compares.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel

from pipeline.config import Params, parse_params, read_yaml
from pipeline.errors import ConfigError, OneLineParser, run_cli

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            merge(base[key], value)
            if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "extra_policies"
            else value
        )
    return out


def profile_params(name: str) -> Params:
    if name == "default":
        return Params()
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        offered = ["default"] + sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ConfigError(f"profile {name!r} not found; choose from {offered}")
    try:
        raw = read_yaml(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return parse_params(merge(Params().model_dump(), raw or {}), str(path))


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


# Written to params.yaml whatever their value: the knobs a run is compared by (and every key dvc.yaml names one by one,
# which DVC needs present in the file). tests/test_config.py checks both.
EXPERIMENT_KEYS = (
    "seed",
    "device",
    "data.source",
    "policy.base",
    "policy.n_embd",
    "policy.max_steps",
    "annotator.gold",
    "annotator.tau",
    "annotator.epsilon",
    "preferences.source",
    "preferences.n_prompts",
    "reward_model.epochs",
    "reward_model.lr",
    "sampling.max_new_tokens",
    "sampling.temperature",
    "ppo.total_updates",
    "ppo.lr",
    "ppo.n_eval_prompts",
    "ppo.eval_samples_per_prompt",
    "ppo.missing_eos_penalty",
    "dpo.max_steps",
    "dpo.lr",
    "rloo.total_updates",
    "rloo.lr",
    "grpo.total_updates",
    "grpo.lr",
    "curves.ppo_kl_coef",
    "curves.dpo_beta",
    "curves.rloo_kl_coef",
    "curves.grpo_kl_coef",
    "generate.samples_per_prompt",
    "evaluate.best_of_n_max",
    "report.n_samples_shown",
)


def render(params: Params, name: str, every_key: bool = False) -> str:
    """params.yaml text, each key with its documentation as a comment: the experiment's keys and those `params`
    sets away from the code defaults, or (every_key) the whole documented reference."""
    defaults = Params()

    def kept(dotted: str, value, default) -> bool:
        return every_key or dotted in EXPERIMENT_KEYS or value != default

    command = f"python -m pipeline.profiles {name}" + (" --all" if every_key else "")
    what = "every key" if every_key else "the keys that define an experiment, plus those this profile changes"
    lines = [
        "# rlhf-bench parameters, validated by pipeline/config.py (unknown keys are errors).",
        f"# Profile: {name}; {what}. Regenerate with `{command}`; profiles/ lists the others.",
    ]
    if not every_key:
        lines += [
            "# Keys left out take pipeline/config.py's defaults: `python -m pipeline.profiles default --all --out -` lists",
            "# them all with their meaning; `dvc exp run -S +ppo.gamma=0.99` sets one for an experiment (`+` adds a key).",
        ]
    lines.append("")
    for key, field in Params.model_fields.items():
        value, default = getattr(params, key), getattr(defaults, key)
        if not isinstance(value, BaseModel):
            if kept(key, value, default):
                lines.append(f"{key}: {_flow(value)}  # {field.description or ''}")
            continue
        subfields = type(value).model_fields
        subkeys = [sub for sub in subfields if kept(f"{key}.{sub}", getattr(value, sub), getattr(default, sub))]
        if subkeys:
            lines.append(f"{key}:")
        for sub in subkeys:
            doc = f"  # {subfields[sub].description}" if subfields[sub].description else ""
            lines.append(f"  {sub}: {_flow(getattr(value, sub))}{doc}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m pipeline.profiles", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="default, or a file name in profiles/ without .yaml")
    parser.add_argument("--out", default="params.yaml", help="file to write, or - for standard output")
    parser.add_argument("--all", action="store_true", help="write every key with its value and meaning")
    args = parser.parse_args(argv)
    text = render(profile_params(args.name), args.name, every_key=args.all)
    if args.out == "-":
        print(text, end="")
        return
    try:
        Path(args.out).write_text(text)
    except OSError as err:
        raise ConfigError(f"--out: cannot write {args.out} ({err.strerror})") from None
    print(f"wrote {args.out} (profile {args.name})")


if __name__ == "__main__":
    run_cli(main)
