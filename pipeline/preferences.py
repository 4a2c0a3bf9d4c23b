"""Preference pairs: simulated from samples + gold + annotator, or read and validated from a user's file."""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from pipeline.annotator import accuracy_ceiling, judge, pair_rng
from pipeline.config import AnnotatorConfig, PreferencesConfig
from pipeline.corpus import content_hash
from pipeline.errors import ConfigError

REQUIRED_EXPLICIT = ("prompt", "chosen", "rejected")
REQUIRED_IMPLICIT = ("chosen", "rejected")
# real datasets hold a few pairs with chosen == rejected, or with an empty last answer (dropped and counted);
# more than this share of either means a broken file
MAX_IDENTICAL_SHARE = MAX_EMPTY_SHARE = 0.1

log = logging.getLogger("rlhf_bench")
# messages -> text; the flag asks for the assistant-turn cue after a prompt (a chat template's generation prompt)
Renderer = Callable[[list[dict], bool], str]


# ---------------------------------------------------------------- simulated
def simulate_pairs(samples: list[dict], cfg: AnnotatorConfig, seed: int) -> tuple[list[dict], dict]:
    """All k(k-1)/2 pairs of each prompt's samples, labelled by the noisy annotator.

    Identical responses are skipped (nothing to prefer). Gold ties follow `cfg.ties`: 'drop'
    removes the pair, 'coin' labels it by a fair coin (p_chosen = 0.5).
    """
    by_prompt: dict[int, list[dict]] = {}
    for s in samples:
        by_prompt.setdefault(s["prompt_id"], []).append(s)
    pairs, n_candidates, n_ties, n_coin = [], 0, 0, 0
    for pid in sorted(by_prompt):
        for a, b in itertools.combinations(sorted(by_prompt[pid], key=lambda s: s["sample_idx"]), 2):
            if a["response_ids"] == b["response_ids"]:
                continue
            n_candidates += 1
            tie = a["gold"] == b["gold"]
            n_ties += tie
            if tie and cfg.ties == "drop":
                continue
            j = judge(a["gold"], b["gold"], cfg.tau, cfg.epsilon, pair_rng(seed, f"{pid}:{a['sample_idx']}:{b['sample_idx']}"))
            n_coin += j.coin
            chosen, rejected = (a, b) if j.a_preferred else (b, a)
            p_chosen = j.p_a if j.a_preferred else 1.0 - j.p_a
            pairs.append(_pair_record(chosen, rejected, p_chosen, j.coin))
    stats = pair_stats(pairs, cfg)
    stats |= {
        "n_candidate_pairs": n_candidates,
        "tie_rate": n_ties / max(n_candidates, 1),
        "coin_rate": n_coin / max(len(pairs), 1),
    }
    return pairs, stats


def _pair_record(chosen: dict, rejected: dict, p_chosen: float, coin: bool) -> dict:
    return {
        "prompt_id": chosen["prompt_id"],
        "prompt": chosen["prompt"],
        "chosen": chosen["response"],
        "rejected": rejected["response"],
        "prompt_ids": chosen["prompt_ids"],
        "chosen_ids": chosen["response_ids"],
        "rejected_ids": rejected["response_ids"],
        "gold_chosen": chosen["gold"],
        "gold_rejected": rejected["gold"],
        "p_chosen": p_chosen,
        "coin": coin,
        "flipped": chosen["gold"] < rejected["gold"],  # the label contradicts the noise-free gold order
    }


def pair_stats(pairs: list[dict], cfg: AnnotatorConfig) -> dict:
    """Label quality: agreement with gold order, flip rate, and the accuracy ceiling for a reward model."""
    if not pairs:
        return {"n_pairs": 0}
    gc = [p["gold_chosen"] for p in pairs]
    gr = [p["gold_rejected"] for p in pairs]
    decided = [(c, r) for c, r in zip(gc, gr, strict=True) if c != r]
    return {
        "n_pairs": len(pairs),
        "flip_rate": sum(p["flipped"] for p in pairs) / len(pairs),
        "label_gold_agreement": sum(c > r for c, r in decided) / max(len(decided), 1),
        "accuracy_ceiling": accuracy_ceiling(gc, gr, cfg.tau, cfg.epsilon),
    }


def split_pairs(pairs: list[dict], test_fraction: float) -> tuple[list[dict], list[dict]]:
    """Split by prompt (content hash), so no test prompt is seen in training."""
    test = [p for p in pairs if content_hash(p["prompt"]) < test_fraction]
    train = [p for p in pairs if content_hash(p["prompt"]) >= test_fraction]
    return train, test


def checked_split(items: list[dict], test_fraction: float, what: str = "pairs") -> tuple[list[dict], list[dict]]:
    """`split_pairs`, with the reason when a side is empty: one shared prompt cannot be split at all."""
    train, test = split_pairs(items, test_fraction)
    if train and test:
        return train, test
    n_prompts = len({p["prompt"] for p in items})
    if n_prompts <= 1:
        shared = repr(items[0]["prompt"][:60]) if items else "none"
        raise ConfigError(
            f"preferences: all {len(items)} {what} share one prompt ({shared}), and the split is by prompt so no test prompt is trained on; "
            "give the pairs their own prompts (a prompt column, or a common start of chosen and rejected)"
        )
    raise ConfigError(
        f"preferences: {len(items)} {what} over {n_prompts} prompts give an empty {'test' if train else 'train'} split; "
        "add pairs or change preferences.test_fraction"
    )


# ---------------------------------------------------------------- bring your own
def read_preference_file(path: str | Path, render: Renderer | None = None, on_invalid_row: str = "drop") -> PreferenceRows:
    """Rows of a jsonl/parquet/csv preference file, validated; implicit-prompt rows get their prompt split off.

    `render` turns conversational rows (TRL's lists of {"role", "content"} messages) into text; see `chat_renderer`.
    `on_invalid_row` is preferences.on_invalid_row: "drop" (count) or "error" (refuse) rows with an empty response.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"preferences.path: {path} does not exist; point it at a .jsonl, .parquet or .csv file")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path}: file is empty; it needs prompt/chosen/rejected (or chosen/rejected) rows")
    rows = _read_rows(path)
    return validate_preference_rows(rows, str(path), render, on_invalid_row)


def _read_rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl_rows(path)
    if suffix not in (".parquet", ".csv"):
        raise ConfigError(f"preferences.path: {path} has unsupported suffix {suffix!r}; use .jsonl, .parquet or .csv")
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, keep_default_na=False)
    except (UnicodeDecodeError, ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise ConfigError(f"{path}: cannot be parsed as {suffix[1:]} ({type(err).__name__}); check the file format") from None
    return frame.to_dict("records")


def _read_jsonl_rows(path: Path) -> list:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: invalid UTF-8 at byte {err.start}; re-encode the file as UTF-8") from None
    rows = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ConfigError(f"{path}: line {i} is not valid JSON; one JSON object per line") from None
    return rows


class PreferenceRows(list):
    """Validated rows (prompt_id, prompt, chosen, rejected), and how many identical or empty pairs were dropped."""

    n_identical_dropped: int = 0
    n_empty_dropped: int = 0


def validate_preference_rows(
    rows: list, source: str, render: Renderer | None = None, on_invalid_row: str = "drop"
) -> PreferenceRows:
    """Text pairs from rows of text or of messages.

    Identical pairs (up to whitespace) are dropped and counted; so are pairs with an empty chosen or rejected
    response unless on_invalid_row is "error". More than MAX_IDENTICAL_SHARE / MAX_EMPTY_SHARE of either refuses the file.
    """
    if not rows:
        raise ConfigError(f"{source}: no rows; it needs prompt/chosen/rejected (or chosen/rejected) rows")
    check_columns(rows, source)
    # explicit when any row has a prompt: a first row without one is an error, not a silently ignored column
    explicit = any(isinstance(row, dict) and "prompt" in row for row in rows)
    out, identical, empty = PreferenceRows(), [], []
    for i, row in enumerate(rows, 1):
        prompt, chosen, rejected, empty_side = _row_texts(row, i, source, explicit, render or plain_render)
        if empty_side:
            if on_invalid_row == "error":
                raise ConfigError(
                    f"{source}: row {i} has an empty {empty_side} response; fill it in or remove the row "
                    "(or set preferences.on_invalid_row: drop to skip such rows)"
                )
            empty.append((i, empty_side))
            continue
        if chosen.split() == rejected.split():
            identical.append(i)
            continue
        out.append({"prompt_id": i - 1, "prompt": prompt, "chosen": chosen, "rejected": rejected})
    _check_empty(empty, len(rows), source)
    _check_identical(identical, len(rows), source)
    if not explicit and out and not any(r["prompt"].strip() for r in out) and _columns(rows) - set(REQUIRED_IMPLICIT):
        # chosen/rejected with no shared start and other columns beside them: the prompt column is misnamed
        raise ConfigError(
            f"{source}: no row has a prompt; columns found {sorted(_columns(rows))}, expected {list(REQUIRED_EXPLICIT)} "
            f"(or {list(REQUIRED_IMPLICIT)} that start with their shared prompt); rename the prompt column to 'prompt'"
        )
    out.n_identical_dropped, out.n_empty_dropped = len(identical), len(empty)
    return out


def _columns(rows: list) -> set[str]:
    return {str(col) for row in rows if isinstance(row, dict) for col in row}


def check_columns(rows: list, source: str) -> None:
    """A file whose rows all lack `chosen` or `rejected` has misnamed columns: one line naming what it has,
    before any row is read (a column missing from only some rows is named with its row later)."""
    found = _columns(rows)
    if not found:
        return  # no dict rows: _row_texts names the first row's type
    missing = [col for col in REQUIRED_IMPLICIT if col not in found]
    if missing:
        raise ConfigError(
            f"{source}: no column {' or '.join(map(repr, missing))}; columns found {sorted(found)}, expected "
            f"{list(REQUIRED_EXPLICIT)} (or {list(REQUIRED_IMPLICIT)} with the prompt as their shared start); rename the columns"
        )


def _check_empty(empty: list[tuple[int, str]], n_rows: int, source: str) -> None:
    if not empty:
        return
    first, side = empty[0]
    if len(empty) > MAX_EMPTY_SHARE * n_rows:
        raise ConfigError(
            f"{source}: row {first} has an empty {side} response, as do {len(empty) - 1} more of {n_rows} rows; "
            f"more than {MAX_EMPTY_SHARE:.0%} means a broken file: fix or remove them"
        )
    log.warning(
        "%s: dropped %d of %d rows with an empty chosen or rejected response (preferences.on_invalid_row: drop), first: row %d",
        source,
        len(empty),
        n_rows,
        first,
    )


def _check_identical(identical: list[int], n_rows: int, source: str) -> None:
    if not identical:
        return
    if len(identical) > MAX_IDENTICAL_SHARE * n_rows:
        raise ConfigError(
            f"{source}: row {identical[0]} has identical chosen and rejected responses (up to whitespace), as do "
            f"{len(identical) - 1} more of {n_rows} rows; more than {MAX_IDENTICAL_SHARE:.0%} means a broken file: fix or remove them"
        )
    log.warning(
        "%s: dropped %d of %d rows whose chosen and rejected are identical (up to whitespace), first: row %d",
        source,
        len(identical),
        n_rows,
        identical[0],
    )


def _empty_side(chosen: str | list[dict], rejected: str | list[dict]) -> str | None:
    """'chosen' or 'rejected' when that response is blank: text that is only whitespace, or messages with no content
    (an empty last assistant turn renders to a role marker, which is not blank text)."""
    for name, value in (("chosen", chosen), ("rejected", rejected)):
        text = value if isinstance(value, str) else "".join(m["content"] for m in value)
        if not text.strip():
            return name
    return None


def _row_texts(row, i: int, source: str, explicit: bool, render: Renderer) -> tuple[str, str, str, str | None]:
    """(prompt, chosen, rejected) text of one row (text columns as they are, message lists rendered), and which
    response is empty (None when neither)."""
    required = REQUIRED_EXPLICIT if explicit else REQUIRED_IMPLICIT
    if not isinstance(row, dict):
        raise ConfigError(f"{source}: row {i} is {type(row).__name__}, not an object with columns {list(required)}")
    for col in required:
        if col not in row:
            raise ConfigError(f"{source}: row {i} is missing column {col!r}; every row needs {list(required)}")
    values = {col: row[col].tolist() if hasattr(row[col], "tolist") else row[col] for col in required}  # parquet lists are arrays
    kinds = {
        col: "text" if isinstance(v, str) else "messages" if isinstance(v, list) else type(v).__name__
        for col, v in values.items()
    }
    if set(kinds.values()) == {"text"}:
        texts = (
            (values["prompt"], values["chosen"], values["rejected"])
            if explicit
            else split_implicit(values["chosen"], values["rejected"])
        )
        return (*texts, _empty_side(texts[1], texts[2]))
    for col, kind in kinds.items():
        if kind not in ("text", "messages"):
            raise ConfigError(f'{source}: row {i} column {col!r} is {kind}, not text or a list of {{"role", "content"}} messages')
    if set(kinds.values()) != {"messages"}:
        raise ConfigError(
            f"{source}: row {i} mixes text and message lists ({kinds}); use text in every column, or in every one a list of "
            '{"role", "content"} messages (TRL\'s conversational format)'
        )
    for col, value in values.items():
        _check_messages(value, f"{source}: row {i} column {col!r}")
    parts = (
        (values["prompt"], values["chosen"], values["rejected"])
        if explicit
        else split_implicit_messages(values["chosen"], values["rejected"])
    )
    if empty := _empty_side(parts[1], parts[2]):
        return "", "", "", empty  # dropped or refused: not worth rendering
    try:
        return (*render_conversation(*parts, render), None)
    except Exception as err:  # noqa: BLE001 - a chat template may refuse a conversation (e.g. roles that do not alternate)
        raise ConfigError(
            f"{source}: row {i}: the chat template cannot render it ({type(err).__name__}: {str(err)[:120]}); fix the conversation"
        ) from None


def _check_messages(messages: list, where: str) -> None:
    for j, m in enumerate(messages):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise ConfigError(f'{where}: message {j} is not {{"role": text, "content": text}}; fix the conversation')


# ---------------------------------------------------------------- conversational rows (TRL's format)
def plain_render(messages: list[dict], generation_prompt: bool = False) -> str:
    """The documented rendering for a tokenizer without a chat template: one `role: content` line per message."""
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def chat_renderer(tokenizer) -> Renderer:
    """The tokenizer's chat template when it has one, else `plain_render`."""
    if not getattr(tokenizer, "chat_template", None):
        return plain_render

    def render(messages: list[dict], generation_prompt: bool = False) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)

    return render


def render_conversation(prompt: list[dict], chosen: list[dict], rejected: list[dict], render: Renderer) -> tuple[str, str, str]:
    """Prompt text and each response as the text that follows it, so prompt + response is the whole rendered dialogue."""
    prompt_text = render(prompt, True) if prompt else ""

    def response(messages: list[dict]) -> str:
        full = render(prompt + messages, False)
        return full[len(os.path.commonprefix([full, prompt_text])) :]

    return prompt_text, response(chosen), response(rejected)


def split_implicit_messages(chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """Implicit-prompt dialogues: the messages both share from the start are the prompt (as TRL's extract_prompt)."""
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


def split_implicit(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Implicit-prompt pair (full texts): the shared prefix, cut back to a word boundary, is the prompt."""
    prefix = os.path.commonprefix([chosen, rejected])
    # cut back also when one text is the other's prefix ("Q: yes" / "Q: yes indeed"), so no response is empty
    if prefix and not prefix[-1].isspace():
        cut = prefix.rstrip().rfind(" ")
        prefix = prefix[: cut + 1] if cut >= 0 else ""
    return prefix.rstrip(), chosen[len(prefix.rstrip()) :], rejected[len(prefix.rstrip()) :]


def tokenize_pairs(rows: list[dict], tokenizer) -> list[dict]:
    """Token ids for user pairs, cut as PPO cuts: prompt ids + response ids + EOS."""
    eos = tokenizer.eos_token_id
    enc = lambda texts: tokenizer(texts, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts, chosen, rejected = (enc([r[k] for r in rows]) for k in ("prompt", "chosen", "rejected"))
    for r, p, c, j in zip(rows, prompts, chosen, rejected, strict=True):
        r |= {"prompt_ids": p, "chosen_ids": c + [eos], "rejected_ids": j + [eos]}
    return rows


# ---------------------------------------------------------------- user prompts for the policies
def load_user_rows(cfg: PreferencesConfig, render: Renderer | None = None) -> PreferenceRows:
    """Validated rows of the user's preference file (source=file) or hub dataset (source=hub);
    `render` turns conversational rows into text (`chat_renderer(tokenizer)`; default `plain_render`)."""
    if cfg.source == "file":
        return read_preference_file(cfg.path, render, cfg.on_invalid_row)
    try:
        import datasets

        rows = list(datasets.load_dataset(cfg.hub_dataset, split=cfg.hub_split))
    except Exception as err:  # noqa: BLE001 - any hub failure gets the same actionable message
        raise ConfigError(
            f"preferences.hub_dataset: cannot load {cfg.hub_dataset!r} ({type(err).__name__}); offline? "
            "save it as jsonl and set preferences.source=file, preferences.path=<file>"
        ) from None
    return validate_preference_rows(rows, cfg.hub_dataset, render, cfg.on_invalid_row)


def uses_preference_prompts(cfg: PreferencesConfig) -> bool:
    """Real labels: the policies optimise (and are evaluated on) the preference data's own prompts, the
    distribution the reward model was trained on, unless preferences.prompts chooses the corpus."""
    # getattr: the `preferences.prompts` field is declared in pipeline/config.py; until then every run uses the pairs
    return cfg.source != "simulated" and cfg.prompts == "pairs"


def data_flags(cfg: PreferencesConfig) -> dict:
    """What later stages must honour: real labels have no gold scorer to judge them, and the policies
    optimise the preference data's prompts unless preferences.prompts chooses the corpus."""
    return {"gold_available": cfg.source == "simulated", "prompts": "pairs" if uses_preference_prompts(cfg) else "corpus"}


def preference_prompts(rows: list[dict], test_fraction: float, n_eval: int) -> tuple[list[dict], list[dict]]:
    """Training and held-out prompts of the user's pairs, split exactly as `split_pairs` splits the pairs,
    so no evaluation prompt was seen by the reward model or by PPO. Pairs without a prompt are skipped."""
    train, test = split_pairs(rows, test_fraction)
    return _unique_prompts(train), _unique_prompts(test)[:n_eval]


def _unique_prompts(pairs: list[dict]) -> list[dict]:
    # no `reference` text, unlike corpus prompts: a label change must not change the prompts
    # (PPO's resume fingerprint hashes them), and no stage reads it
    unique = sorted({p["prompt"] for p in pairs if p["prompt"].strip()}, key=content_hash)  # stable, order-free
    return [{"prompt_id": i, "prompt": prompt} for i, prompt in enumerate(unique)]
