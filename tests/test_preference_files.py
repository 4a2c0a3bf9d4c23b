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
    MAX_EMPTY_SHARE,
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


# ---------------------------------------------------------------- empty responses, misnamed columns (issue 26)
def with_empty_last_turn(rows, every: int):
    """Every `every`-th dialogue's chosen last assistant turn emptied, as real datasets hold a few."""
    for i in range(0, len(rows), every):
        rows[i]["chosen"] = rows[i]["chosen"][:-1] + [assistant("")]
    return rows


def test_a_few_empty_responses_are_dropped_counted_and_logged_once(tmp_path, caplog):
    rows = with_empty_last_turn(dialogue_rows(40), every=20)  # rows 1 and 21: an empty last assistant turn
    rows[5]["rejected"] = rows[5]["rejected"][:-1] + [assistant("   ")]
    with caplog.at_level("WARNING", logger="rlhf_bench"):
        out = read_preference_file(write_jsonl(tmp_path / "d.jsonl", rows))
    assert len(out) == 37 and out.n_empty_dropped == 3 and out.n_identical_dropped == 0
    assert 0 not in {r["prompt_id"] for r in out} and {1, 2} <= {r["prompt_id"] for r in out}
    lines = [r.getMessage() for r in caplog.records if "empty" in r.getMessage()]
    assert lines == [
        f"{tmp_path / 'd.jsonl'}: dropped 3 of 40 rows with an empty chosen or rejected response "
        "(preferences.on_invalid_row: drop), first: row 1"
    ]


def test_empty_text_responses_are_dropped_too():
    rows = [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(19)] + [
        {"prompt": "q", "chosen": " ", "rejected": "no"}
    ]
    out = validate_preference_rows(rows, "pairs")
    assert len(out) == 19 and out.n_empty_dropped == 1


def test_on_invalid_row_error_refuses_the_first_empty_response(tmp_path):
    rows = with_empty_last_turn(dialogue_rows(40), every=20)
    with pytest.raises(ConfigError, match=r"d.jsonl: row 1 has an empty chosen response; fill it in or remove the row") as err:
        read_preference_file(write_jsonl(tmp_path / "d.jsonl", rows), on_invalid_row="error")
    assert "preferences.on_invalid_row: drop" in str(err.value) and "\n" not in str(err.value)


def test_on_invalid_row_is_a_validated_param():
    from pipeline.config import parse_params

    assert parse_params({}).preferences.on_invalid_row == "drop"
    with pytest.raises(ConfigError, match="preferences.on_invalid_row: Input should be 'drop' or 'error'"):
        parse_params({"preferences": {"on_invalid_row": "skip"}})


def test_mostly_empty_file_still_stops_with_one_line(tmp_path):
    n_bad = int(20 * MAX_EMPTY_SHARE) + 1
    rows = [{"prompt": f"q{i}", "chosen": "" if i < n_bad else "yes", "rejected": "no"} for i in range(20)]
    with pytest.raises(ConfigError, match=rf"p.jsonl: row 1 has an empty chosen response, as do {n_bad - 1} more of 20 rows"):
        read_preference_file(write_jsonl(tmp_path / "p.jsonl", rows))


def test_misnamed_prompt_column_names_the_columns(tmp_path):
    rows = [{"question": f"q{i}", "chosen": "yes indeed", "rejected": "no way"} for i in range(20)]
    with pytest.raises(
        ConfigError,
        match=r"p.jsonl: no row has a prompt; columns found \['chosen', 'question', 'rejected'\], "
        r"expected \['prompt', 'chosen', 'rejected'\]",
    ):
        read_preference_file(write_jsonl(tmp_path / "p.jsonl", rows))


@pytest.mark.parametrize(
    ("columns", "missing"),
    [(("prompt", "response_a", "response_b"), "'chosen' or 'rejected'"), (("prompt", "chosen"), "'rejected'")],
)
def test_missing_chosen_or_rejected_columns_name_what_the_file_has(tmp_path, columns, missing):
    pd.DataFrame([dict.fromkeys(columns, "text")] * 3).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(ConfigError, match=rf"p.csv: no column {missing}; columns found \[") as err:
        read_preference_file(tmp_path / "p.csv")
    assert all(repr(c) in str(err.value) for c in columns)
