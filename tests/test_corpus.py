import json

import pytest

from pipeline.config import DataConfig
from pipeline.corpus import (
    find_fortune_files,
    load_corpus,
    make_prompt,
    make_prompts,
    parse_fortunes,
    read_hub_dataset,
    read_text_file,
    split_by_hash,
)
from pipeline.errors import ConfigError


def test_fortunes_found_through_package_metadata():
    paths = find_fortune_files(["fortunes", "limerick", "murphy", "startrek", "zippy"])
    assert [p.name for p in paths] == ["fortunes", "limerick", "murphy", "startrek", "zippy"]
    assert all(p.is_file() for p in paths)


def test_offensive_and_unknown_files_refused():
    with pytest.raises(ConfigError, match="offensive"):
        find_fortune_files(["fortunes-o"])
    with pytest.raises(ConfigError, match=r"data.fortune_files: \['nope'\]"):
        find_fortune_files(["nope"])


def test_default_corpus_size_matches_the_package():
    from pipeline.corpus import GOLD_RESERVED_FROM, reserved_for_gold

    entries = load_corpus(DataConfig())  # the package's ~14,500 entries less the quarter reserved for the gold judge
    assert 14_000 * GOLD_RESERVED_FROM < len(entries) < 15_000 * GOLD_RESERVED_FROM
    assert 2_200_000 * GOLD_RESERVED_FROM < sum(map(len, entries)) < 2_500_000 * GOLD_RESERVED_FROM
    assert not any(reserved_for_gold(e) for e in entries)
    assert not any("$FreeBSD" in e for e in entries)


def test_parse_fortunes_separators_and_header():
    text = "$FreeBSD: src/games/x $\n%\nfirst entry\nline two\n%\n%\nsecond\n"
    assert parse_fortunes(text) == ["first entry\nline two", "second"]


def test_split_is_deterministic_and_order_free():
    entries = [f"entry number {i} with some words" for i in range(2000)]
    a = split_by_hash(entries, 0.1, 0.1)
    b = split_by_hash(list(reversed(entries)), 0.1, 0.1)
    assert {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}
    assert sum(map(len, a.values())) == 2000
    assert 120 < len(a["test"]) < 280 and 120 < len(a["validation"]) < 280
    assert not set(a["train"]) & set(a["test"])


def test_prompts_are_first_words_and_unique():
    assert make_prompt("one two three four five", 3) == "one two three"
    assert make_prompt("too short", 3) is None
    prompts = make_prompts(["a b c d e", "a b c x y", "p q r s t"], 3)
    assert sorted(p["prompt"] for p in prompts) == ["a b c", "p q r"]
    assert [p["prompt_id"] for p in prompts] == [0, 1]


def test_user_files(tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_text("line one here\n\nline two here\n")
    assert read_text_file(txt, "text") == ["line one here", "line two here"]
    jl = tmp_path / "c.jsonl"
    jl.write_text(json.dumps({"body": "hello world"}) + "\n")
    assert read_text_file(jl, "body") == ["hello world"]
    with pytest.raises(ConfigError, match="row 1 has no field 'text'; set data.text_field"):
        read_text_file(jl, "text")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\xff\xfe broken")
    with pytest.raises(ConfigError, match="invalid UTF-8"):
        read_text_file(bad, "text")
    with pytest.raises(ConfigError, match="does not exist"):
        read_text_file(tmp_path / "missing.txt", "text")


def test_empty_corpus_is_an_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ConfigError, match="corpus is empty"):
        load_corpus(DataConfig(source="file", path=str(empty)))


def test_unreachable_hub_dataset_says_how_to_use_a_local_file():
    with pytest.raises(ConfigError, match="data.source=file"):
        read_hub_dataset("nobody/no-such-dataset-xyz", "train", "text")
