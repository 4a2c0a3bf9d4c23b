"""Write params.yaml for a profile: the documented defaults with a profile's overrides applied.

    python -m pipeline.profiles default            # the embedded CPU run (the committed params.yaml)
    python -m pipeline.profiles tiny               # seconds-long smoke run (tests use it)
    python -m pipeline.profiles gpu                # larger models/batches for one GPU
    python -m pipeline.profiles smollm2 --out params.yaml
Profiles live in profiles/<name>.yaml as partial overrides; every key is validated.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel

from pipeline.config import Params, parse_params
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
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return parse_params(merge(Params().model_dump(), raw or {}), str(path))


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def render(params: Params, name: str) -> str:
    """params.yaml text: every key, with its documentation as a comment."""
    lines = [
        "# rlhf-bench parameters, validated by pipeline/config.py (unknown keys are errors).",
        f"# Profile: {name}. Regenerate with `python -m pipeline.profiles {name}`; profiles/ lists the others.",
        "",
    ]
    for key, field in Params.model_fields.items():
        value = getattr(params, key)
        if not isinstance(value, BaseModel):
            lines.append(f"{key}: {_flow(value)}  # {field.description or ''}")
            continue
        lines.append(f"{key}:")
        for sub, subfield in type(value).model_fields.items():
            doc = f"  # {subfield.description}" if subfield.description else ""
            lines.append(f"  {sub}: {_flow(getattr(value, sub))}{doc}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m pipeline.profiles", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="default, or a file name in profiles/ without .yaml")
    parser.add_argument("--out", default="params.yaml")
    args = parser.parse_args(argv)
    text = render(profile_params(args.name), args.name)
    try:
        Path(args.out).write_text(text)
    except OSError as err:
        raise ConfigError(f"--out: cannot write {args.out} ({err.strerror})") from None
    print(f"wrote {args.out} (profile {args.name})")


if __name__ == "__main__":
    run_cli(main)
