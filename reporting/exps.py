"""The experiments table in 120 columns: each run's changed params and headline metrics, one line per run.

    python -m reporting.exps [--width 120] [-A] [--rev REV] [-n N] [--input exp_show.json]   (or `make exps`)

It reads `dvc exp show --json` (or a saved copy: --input), flattens the workspace, each baseline commit and every
experiment under it (named as `dvc exp run -n` stored it), and prints, in `dvc exp show`'s spirit, one line per run:
its name, its state where it has one (queued, running, failed, success), the params that differ between the listed
runs in short form (`ppo_kl=[0.01,0.1]`) and a few headline metrics of results/summary.json (the role layout of
reporting/summary.py; runs from before it, `policies`/`peaks`, are read too). A key that params.yaml leaves out is
compared at its pipeline/config.py default. Params that cannot change a run's outputs (OUTPUT_NEUTRAL_PARAMS: the
report's presentation and throughput knobs) never count as changed. A queued, running or failed run shows "-" for its
metrics: what DVC lists for it there is another run's. Every line fits --width: metric columns are dropped (lowest
priority first, named under the table; the top two stay) before the params cell is cut.
"""

from __future__ import annotations

import fnmatch
import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.errors import ConfigError, OneLineParser, positive_int, run_cli

PARAMS_FILE = "params.yaml"
METRICS_FILE = "results/summary.json"
DEFAULT_WIDTH = 120
MIN_WIDTH = 40
MISSING = "-"

# Params that cannot change what a run measures: its report's presentation, and throughput knobs that leave every
# model and sample as it is (pipeline/config.py): the device, the sampler's cache (the same draws), the forward batch
# of sampling (preferences, generate: per-sample noise streams make draws batch-invariant, up to matmul rounding),
# checkpoint spacing (resume only) and PPO's torch.compile (kernels round differently, nothing else). Batch sizes that
# set an optimizer step (policy, reward_model, ppo, dpo, rloo, grpo) do change the outputs and are not here.
# fnmatch patterns over dotted params.yaml keys; one list for every cross-run reader (reporting.compare may reuse it).
OUTPUT_NEUTRAL_PARAMS: tuple[str, ...] = (
    "report.*",
    "device",
    "sampling.cache",
    "preferences.batch_size",
    "generate.batch_size",
    "policy.checkpoint_every",
    "ppo.checkpoint_every",
    "ppo.compile_update",
)


def is_output_neutral(key: str) -> bool:
    """True when a dotted params.yaml key cannot change a run's outputs (see OUTPUT_NEUTRAL_PARAMS)."""
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in OUTPUT_NEUTRAL_PARAMS)


# ---------------------------------------------------------------- flattening dvc exp show --json
@dataclass
class Run:
    name: str
    rev: str
    kind: str  # workspace | baseline | experiment
    state: str = ""  # the queue's: queued | running | failed | success; "" for a run made outside the queue
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # results/summary.json as nested data

    @property
    def finished(self) -> bool:
        return self.state in ("", "success")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists and empty mappings are leaves."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def _file_data(section: Any, path: str) -> dict[str, Any]:
    entry = (section or {}).get(path) if isinstance(section, Mapping) else None
    data = entry.get("data") if isinstance(entry, Mapping) else None  # a missing file: {"error": {...}}
    return dict(data) if isinstance(data, Mapping) else {}


def _params(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every params file flattened; keys of a file other than params.yaml carry its path (`other.yaml:key`)."""
    out: dict[str, Any] = {}
    for path in (data.get("params") or {}) if isinstance(data.get("params"), Mapping) else ():
        flat = flatten(_file_data(data["params"], path))
        out |= flat if path == PARAMS_FILE else {f"{path}:{k}": v for k, v in flat.items()}
    return out


def _run(entry: Mapping[str, Any], name: str, kind: str, state: str = "") -> Run:
    data = entry.get("data") if isinstance(entry.get("data"), Mapping) else {}
    if not state and entry.get("error"):
        state = "failed"
    run = Run(name=name, rev=str(entry.get("rev") or ""), kind=kind, state=state, params=_params(data))
    if run.finished:
        run.metrics = role_layout(_metrics(data.get("metrics")))
    return run


def _metrics(section: Any) -> dict[str, Any]:
    """results/summary.json's data; in a repository without it (another project, a toy), its first metrics file."""
    paths = list(section) if isinstance(section, Mapping) else []
    for path in sorted(paths, key=lambda p: p != METRICS_FILE):
        if data := _file_data(section, path):
            return data
    return {}


def runs_from_json(payload: Sequence[Mapping[str, Any]]) -> list[Run]:
    """The runs of a `dvc exp show --json` payload in its order: workspace, each baseline, then its experiments."""
    runs = []
    for top in payload:
        rev = str(top.get("rev") or "")
        if rev == "workspace":
            runs.append(_run(top, "workspace", "workspace"))
            continue
        runs.append(_run(top, str(top.get("name") or rev[:7]), "baseline"))
        for exp in top.get("experiments") or ():
            revs = exp.get("revs") or ()
            if not revs:
                continue
            tip = revs[0]  # the experiment's latest commit (older DVC listed checkpoints after it)
            executor = exp.get("executor") if isinstance(exp.get("executor"), Mapping) else {}
            name = exp.get("name") or tip.get("name") or str(tip.get("rev") or "")[:7]
            runs.append(_run(tip, str(name), "experiment", str(executor.get("state") or "")))
    return runs


# ---------------------------------------------------------------- metrics
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _best(entries: Mapping[str, Any], gold: str) -> dict[str, float]:
    points = [
        (g, _number(e.get("kl"))) for e in entries.values() if isinstance(e, Mapping) and (g := _number(e.get(gold))) is not None
    ]
    if not points:
        return {}
    g, kl = max(points, key=lambda p: p[0])
    return {"best_gold": g} | ({"best_gold_kl": kl} if kl is not None else {})


def role_layout(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary.json in the role layout (reporting/summary.py). One from before it (`policies`, `peaks`,
    `best_of_n.<n>`, `base_policy`) is mapped onto the keys this table reads; the role layout passes through."""
    if "policies" not in summary and "peaks" not in summary:
        return dict(summary)
    out: dict[str, Any] = {"reward_model": dict(summary.get("reward_model") or {})}
    base = ((summary.get("policies") or {}).get("base") or {}).get("gold_reward")
    ppl = (summary.get("base_policy") or {}).get("perplexity")
    out["base"] = {k: v for k, v in (("gold", base), ("perplexity", ppl)) if v is not None}
    peaks = summary.get("peaks") or {}
    for method in {name.split("_kl")[0] for name in peaks}:
        out[method] = _best({k: v for k, v in peaks.items() if k.split("_kl")[0] == method}, "gold_reward")
    bon = {n: v for n, v in (summary.get("best_of_n") or {}).items() if str(n).isdigit()}
    if best := _best(bon, "gold_reward"):
        out["best_of_n"] = best
    return out


def _get(metrics: Mapping[str, Any], key: str) -> float | None:
    node: Any = metrics
    for part in key.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return _number(node)


@dataclass(frozen=True)
class Column:
    """A headline metric column: its header, key in results/summary.json, an optional KL key shown as `gold@KL`, and
    its priority (1 stays longest when the table must drop columns to fit)."""

    header: str
    key: str
    priority: int
    meaning: str
    kl_key: str | None = None
    digits: int = 3

    def cell(self, metrics: Mapping[str, Any]) -> str:
        value = _get(metrics, self.key)
        if value is None:
            return MISSING
        text = f"{value:.{self.digits}f}"
        kl = _get(metrics, self.kl_key) if self.kl_key else None
        return text if kl is None else f"{text}@{kl:.1f}"


BEST = "X best@KL: method X's best gold and the KL (nats) where it was reached"


def _best_column(method: str, label: str, priority: int) -> Column:
    return Column(f"{label} best@KL", f"{method}.best_gold", priority, BEST, kl_key=f"{method}.best_gold_kl")


# display order; the priority decides which go first when the width is short (1 stays longest)
COLUMNS: tuple[Column, ...] = (
    Column("base gold", "base.gold", 2, "base gold: the base policy's mean gold reward"),
    Column("RM acc", "reward_model.accuracy", 5, "RM acc: reward-model accuracy on held-out pairs"),
    _best_column("ppo", "PPO", 1),
    Column("PPO@KL3", "ppo.gold_at_kl3", 7, "PPO@KL3: PPO's gold at 3 nats (its best curve)"),
    _best_column("best_of_n", "BoN", 3),
    _best_column("dpo", "DPO", 4),
    _best_column("rloo", "RLOO", 6),
    _best_column("grpo", "GRPO", 8),
)


# ---------------------------------------------------------------- params
def _defaults() -> dict[str, Any]:
    return flatten(Params().model_dump(mode="json"))


def changed_params(runs: Sequence[Run]) -> list[str]:
    """Keys whose value differs between the runs (a key a run leaves out counts at its pipeline/config.py default),
    output-neutral ones left out; in params.yaml order."""
    defaults = _defaults()
    keys: dict[str, None] = {}
    for run in runs:
        keys |= dict.fromkeys(run.params)
    changed = []
    for key in keys:
        if is_output_neutral(key):
            continue
        values = {json.dumps(param_value(run, key, defaults), sort_keys=True) for run in runs}
        if len(values) > 1:
            changed.append(key)
    return changed


def param_value(run: Run, key: str, defaults: Mapping[str, Any] | None = None) -> Any:
    if key in run.params:
        return run.params[key]
    return (defaults if defaults is not None else _defaults()).get(key, MISSING)


SECTION_ABBREVIATIONS = {
    "curves": "",
    "reward_model": "rm",
    "preferences": "pref",
    "annotator": "ann",
    "sampling": "samp",
    "generate": "gen",
    "evaluate": "eval",
}


def short_key(key: str) -> str:
    """curves.ppo_kl_coef -> ppo_kl, curves.dpo_beta -> dpo_beta, reward_model.lr -> rm.lr, seed -> seed."""
    section, dot, rest = key.partition(".")
    if not dot or section not in SECTION_ABBREVIATIONS:
        return key
    if section == "curves":
        return rest.removesuffix("_coef")
    return f"{SECTION_ABBREVIATIONS[section]}.{rest}"


def short_value(value: Any) -> str:
    """Compact: 0.0001 -> 1e-4, [0.01, 0.1] -> [0.01,0.1], None -> null, True -> true."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.4g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}e{int(exponent)}"
        return text
    if isinstance(value, list | tuple):
        return "[" + ",".join(short_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{short_value(v)}" for k, v in value.items()) + "}"
    return str(value)


# ---------------------------------------------------------------- the table
def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "~"


@dataclass
class Table:
    lines: list[str]
    dropped: list[str]


def table(runs: Sequence[Run], width: int = DEFAULT_WIDTH, legend: bool = True) -> Table:
    """The experiments table, every line at most `width` characters."""
    defaults = _defaults()
    keys = changed_params(runs)
    names = [run.name if run.kind != "experiment" else f"  {run.name}" for run in runs]
    params = [" ".join(f"{short_key(k)}={short_value(param_value(run, k, defaults))}" for k in keys) for run in runs]
    states = [run.state for run in runs]
    columns = [c for c in COLUMNS if any(c.cell(run.metrics) != MISSING for run in runs)]  # no all-empty column
    cells = {c: [c.cell(run.metrics) for run in runs] for c in columns}
    widths = {c: max(len(c.header), *(len(v) for v in cells[c])) for c in columns}
    name_w = max(len("Experiment"), *(len(n) for n in names))
    state_w = max(len("State"), *(len(s) for s in states)) if any(states) else 0
    param_w = max(len("changed params"), *(len(p) for p in params)) if keys else 0
    dropped: list[str] = []

    def total() -> int:
        parts = [name_w, state_w, param_w, *(widths[c] for c in columns)]
        return sum(p for p in parts if p) + 2 * (sum(1 for p in parts if p) - 1)

    min_metrics, min_param, min_name = 2, 24, 12  # params outrank all but the top 2 metrics
    while total() > width:
        if len(columns) > min_metrics:
            drop = max(columns, key=lambda c: c.priority)
        elif param_w > min_param:
            param_w = max(min_param, param_w - (total() - width))
            continue
        elif columns:
            drop = max(columns, key=lambda c: c.priority)
        elif param_w > len("params"):
            param_w = max(len("params"), param_w - (total() - width))
            continue
        elif name_w > min_name:
            name_w = max(min_name, name_w - (total() - width))
            continue
        else:
            break
        columns.remove(drop)
        dropped.append(drop.header)

    def line(name: str, state: str, param: str, values: list[str]) -> str:
        parts = [_cut(name, name_w).ljust(name_w)]
        if state_w:
            parts.append(state.ljust(state_w))
        if param_w:
            parts.append(_cut(param, param_w).ljust(param_w))
        parts += [v.rjust(widths[c]) for c, v in zip(columns, values, strict=True)]
        return "  ".join(parts).rstrip()[:width]

    lines = [line("Experiment", "State", "changed params", [c.header for c in columns])]
    lines += [line(names[i], states[i], params[i], [cells[c][i] for c in columns]) for i in range(len(runs))]
    notes = []
    if not keys and len(runs) > 1:
        notes.append("no param that can change the outputs differs between these runs")
    if dropped:
        notes.append(f"left out to fit {width} columns: {', '.join(dropped)} (--width)")
    if legend and columns:
        notes.append("; ".join(dict.fromkeys(c.meaning for c in columns)))
    lines += [piece for note in notes for piece in _wrap(note, width)]
    return Table(lines, dropped)


def _wrap(text: str, width: int) -> Iterator[str]:
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            yield line
            line = ""
        line = f"{line} {word}" if line else _cut(word, width)
    if line:
        yield line


# ---------------------------------------------------------------- command line
def _dvc() -> str:
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.is_file() else (shutil.which("dvc") or "dvc")


def exp_show_json(args: Sequence[str] = ()) -> list[dict[str, Any]]:
    """`dvc exp show --json [args]` in the current directory, parsed."""
    try:
        proc = subprocess.run([_dvc(), "exp", "show", "--json", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ConfigError("dvc is not installed (make setup)") from None
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError(f"`dvc exp show --json` failed: {last}")
    return _parse(proc.stdout, "`dvc exp show --json`")


def _parse(text: str, source: str) -> list[dict[str, Any]]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source} is not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(payload, list):
        raise ConfigError(f"{source} is not `dvc exp show --json` output (a list of revisions)")
    return payload


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m reporting.exps", description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=positive_int, default=DEFAULT_WIDTH, help=f"line width (default {DEFAULT_WIDTH})")
    parser.add_argument("--input", type=Path, help="a saved `dvc exp show --json` output instead of running it")
    parser.add_argument("-A", "--all-commits", action="store_true", help="experiments of every commit (dvc's -A)")
    parser.add_argument("--rev", action="append", default=[], help="baseline revision(s) (dvc's --rev)")
    parser.add_argument("-n", "--num", type=positive_int, help="commits before each --rev (dvc's -n)")
    parser.add_argument("--no-legend", action="store_true", help="leave out the notes under the table")
    args = parser.parse_args(argv)
    if args.width < MIN_WIDTH:
        parser.error(f"--width: {args.width} is below {MIN_WIDTH}")
    if args.input:
        try:
            payload = _parse(args.input.read_text(), str(args.input))
        except OSError as err:
            raise ConfigError(f"cannot read {args.input}: {err.strerror}") from None
    else:
        extra = ["-A"] if args.all_commits else []
        extra += [a for rev in args.rev for a in ("--rev", rev)]
        extra += ["-n", str(args.num)] if args.num else []
        payload = exp_show_json(extra)
    runs = runs_from_json(payload)
    if not runs:
        raise ConfigError("`dvc exp show` listed no runs")
    print("\n".join(table(runs, args.width, legend=not args.no_legend).lines))
    return 0


if __name__ == "__main__":
    run_cli(main)
