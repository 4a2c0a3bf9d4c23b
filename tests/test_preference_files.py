"""User preference files: TRL's conversational format, implicit prompts in dialogues, and real-data edge cases."""

import copy
import json
import shutil

import pandas as pd
import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.io import read_jsonl
from pipeline.preferences import (
    MAX_IDENTICAL_SHARE,
    chat_renderer,
    plain_render,
    read_preference_file,
    render_conversation,
    split_implicit_messages,
    validate_preference_rows,
)
from pipeline.stage import run_stage

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def dialogue_rows(n):
    """HH-RLHF-like dialogues as message lists: a shared two-turn history, then two different last answers."""
    rows = []
    for i in range(n):
        history = [user(f"Hi, question {i}?"), assistant("Sure, ask."), user(f"How was day {i}?")]
        rows.append({"chosen": history + [assistant("Wonderful and happy.")], "rejected": history + [assistant("Awful.")]})
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_plain_rendering_is_role_colon_content_lines():
    assert plain_render([user("hi"), assistant("hello")]) == "user: hi\nassistant: hello"


def test_explicit_conversation_prompt_plus_response_is_the_whole_dialogue():
    prompt, chosen, rejected = render_conversation([user("hi")], [assistant("good")], [assistant("bad")], plain_render)
    assert (prompt, chosen, rejected) == ("user: hi", "\nassistant: good", "\nassistant: bad")


def test_implicit_dialogue_prompt_is_the_shared_messages():
    history = [user("a"), assistant("b"), user("c")]
    prompt, chosen, rejected = split_implicit_messages(history + [assistant("yes")], history + [assistant("no")])
    assert prompt == history and chosen == [assistant("yes")] and rejected == [assistant("no")]


def test_conversational_rows_use_the_chat_template_when_there_is_one(tiny_tokenizer):
    tok = copy.deepcopy(tiny_tokenizer)  # the session fixture must stay unchanged
    assert chat_renderer(tok) is plain_render  # a tokenizer trained here has no template
    tok.chat_template = CHAT_TEMPLATE
    rows = validate_preference_rows(dialogue_rows(1), "dialogues", chat_renderer(tok))
    assert rows[0]["prompt"] == "<user>Hi, question 0?\n<assistant>Sure, ask.\n<user>How was day 0?\n<assistant>"
    assert rows[0]["chosen"] == "Wonderful and happy.\n" and rows[0]["rejected"] == "Awful.\n"


def test_conversational_parquet_and_jsonl_read_alike(tmp_path):
    rows = dialogue_rows(3)
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")  # list columns come back as numpy arrays
    from_parquet = read_preference_file(tmp_path / "d.parquet")
    from_jsonl = read_preference_file(write_jsonl(tmp_path / "d.jsonl", rows))
    assert list(from_parquet) == list(from_jsonl)
    assert from_jsonl[0]["prompt"] == "user: Hi, question 0?\nassistant: Sure, ask.\nuser: How was day 0?"
    assert from_jsonl[0]["chosen"] == "\nassistant: Wonderful and happy."


def test_a_few_identical_pairs_are_dropped_and_counted(tmp_path):
    good = [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(19)]
    rows = read_preference_file(
        write_jsonl(tmp_path / "p.jsonl", [*good, {"prompt": "q", "chosen": "same  text", "rejected": "same text"}])
    )
    assert len(rows) == 19 and rows.n_identical_dropped == 1
    assert [r["prompt_id"] for r in rows] == list(range(19))


def test_identical_pairs_past_the_threshold_fail(tmp_path):
    n_bad = int(20 * MAX_IDENTICAL_SHARE) + 1
    rows = [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no" if i >= n_bad else "yes"} for i in range(20)]
    with pytest.raises(
        ConfigError,
        match=rf"row 1 has identical chosen and rejected responses \(up to whitespace\), as do {n_bad - 1} more of 20 rows",
    ):
        read_preference_file(write_jsonl(tmp_path / "p.jsonl", rows))


def test_a_later_prompt_column_is_not_ignored(tmp_path):
    rows = [{"prompt": "q1", "chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "d"}]
    with pytest.raises(ConfigError, match="row 2 is missing column 'prompt'"):
        read_preference_file(write_jsonl(tmp_path / "p.jsonl", rows))


def test_bad_jsonl_line_is_named(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{oops\n')
    with pytest.raises(ConfigError, match="p.jsonl: line 2 is not valid JSON"):
        read_preference_file(tmp_path / "p.jsonl")


def test_dialogue_file_runs_through_the_preferences_stage(tmp_path, tiny_model_dir, monkeypatch):
    """The implicit-prompt form on dialogues: prompts are the shared history, responses the last turn, ids end in EOS."""
    import stages.preferences

    shutil.copytree(tiny_model_dir, tmp_path / "models" / "base")
    write_jsonl(tmp_path / "dialogues.jsonl", dialogue_rows(40))
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"preferences": {"source": "file", "path": "dialogues.jsonl", "test_fraction": 0.3}})
    )
    monkeypatch.chdir(tmp_path)
    run_stage(stages.preferences.main)
    pairs = read_jsonl("data/preferences/train.jsonl") + read_jsonl("data/preferences/test.jsonl")
    assert len(pairs) == 40 and len({p["prompt"] for p in pairs}) == 40
    assert all(p["prompt"].endswith("?") and p["prompt"].startswith("user: Hi") for p in pairs)
    assert all(p["chosen"] == "\nassistant: Wonderful and happy." and p["rejected"] == "\nassistant: Awful." for p in pairs)
    metrics = json.loads((tmp_path / "results/preferences/metrics.json").read_text())
    assert metrics["n_identical_dropped"] == 0 and metrics["n_pairs"] == 40


def test_implicit_text_pair_where_one_side_extends_the_other():
    rows = validate_preference_rows([{"chosen": "Q: yes", "rejected": "Q: yes indeed"}], "pairs")
    assert (rows[0]["prompt"], rows[0]["chosen"], rows[0]["rejected"]) == ("Q:", " yes", " yes indeed")


def test_a_conversation_the_chat_template_refuses_is_one_line():
    def strict(messages, generation_prompt=False):
        raise ValueError("roles must alternate")

    with pytest.raises(
        ConfigError, match="rows: row 1: the chat template cannot render it \\(ValueError: roles must alternate\\)"
    ):
        validate_preference_rows(dialogue_rows(1), "rows", strict)
