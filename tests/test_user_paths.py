"""Own files end to end: a local base-model directory, a corpus file, an HH-RLHF-style dialogue preference
file, a local reward-model backbone and an extra policy, all under inputs/, through the real dvc.yaml on
the tiny profile. One reference run is shared (module fixture); each test restores what it changes.
"""

import json
import shutil

import pytest

from tests.dvc_repo import BIN, commit, dvc, make_repo, ran_stages, repro_killed_when, set_param, sh

STAGES = [
    "validate",
    "prepare",
    "base_policy",
    "preferences",
    "reward_model",
    "ppo",
    "dpo",
    "rloo",
    "grpo",
    "generate",
    "evaluate",
    "report",
]
SUBJECTS = [
    "the weather",
    "my garden",
    "a good book",
    "the old bridge",
    "fresh bread",
    "the night sky",
    "a long walk",
    "the river",
]
ASKS = [
    "what do you think of",
    "tell me about",
    "how can I enjoy",
    "why do people like",
    "can you describe",
    "what is special about",
]
OWN_PARAMS = {
    "data.source": "file",
    "data.path": "inputs/corpus/corpus.txt",
    "policy.base": "inputs/base/tiny",
    "preferences.source": "file",
    "preferences.path": "inputs/preferences/hh.jsonl",
    "preferences.test_fraction": 0.25,
    "reward_model.backbone": "inputs/backbone/rm",
    "generate.extra_policies": {"other": "inputs/policies/other"},
}

pytestmark = pytest.mark.slow  # end-to-end dvc runs: `make test-fast` leaves them out


def corpus_lines() -> list[str]:
    return [
        f"{a} {s} is a question I ask on day {i} of the year."
        for i, (a, s) in enumerate((a, s) for a in ASKS for s in SUBJECTS * 5)
    ]


def dialogues() -> list[dict]:
    """Anthropic HH-RLHF layout: only `chosen` and `rejected` full dialogues, the prompt implicit."""
    rows = []
    for i, (ask, subject) in enumerate((a, s) for a in ASKS for s in SUBJECTS):
        turns = (
            f"\n\nHuman: hello\n\nAssistant: hi there\n\nHuman: {ask} {subject}?"
            if i % 3 == 0
            else f"\n\nHuman: {ask} {subject}?"
        )
        rows.append(
            {
                "chosen": f"{turns}\n\nAssistant: Sure, {subject} is lovely and I am happy to help.",
                "rejected": f"{turns}\n\nAssistant: No. Go away.",
            }
        )
    return rows


def write_inputs(repo) -> None:
    import torch

    from pipeline.models import new_gpt2, save_model, train_tokenizer

    (repo / "inputs/corpus/corpus.txt").write_text("\n".join(corpus_lines()) + "\n")
    (repo / "inputs/preferences/hh.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dialogues()))
    texts = corpus_lines() + [r["chosen"] for r in dialogues()] + [r["rejected"] for r in dialogues()]
    tokenizer = train_tokenizer(texts, vocab_size=400)
    torch.manual_seed(0)
    save_model(new_gpt2(tokenizer, n_layer=1, n_head=2, n_embd=32, n_positions=128), tokenizer, repo / "inputs/base/tiny")
    shutil.copytree(repo / "inputs/base/tiny", repo / "inputs/backbone/rm")
    shutil.copytree(repo / "inputs/base/tiny", repo / "inputs/policies/other")


def stage_names(output: str) -> list[str]:
    """Stages that ran, with foreach/matrix instances (`ppo@...`) folded into their stage."""
    return list(dict.fromkeys(name.split("@")[0] for name in ran_stages(output)))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = make_repo(tmp_path_factory.mktemp("own_files"))
    write_inputs(path)
    for key, value in OWN_PARAMS.items():
        set_param(path, key, value)
    commit(path, "own files under inputs/")
    assert stage_names(dvc(path, "repro").stdout) == STAGES
    commit(path, "reference run")
    return path


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_local_base_and_dialogue_preferences_run_end_to_end(repo):
    assert (repo / "results/base_policy/live").is_dir()  # declared by dvc.yaml for every base, not only scratch
    base = json.loads((repo / "results/base_policy/metrics.json").read_text())
    assert (
        base["steps"] == 0 and base["vocab_size"] == json.loads((repo / "inputs/base/tiny/config.json").read_text())["vocab_size"]
    )
    # the policies optimise the file's prompts: train and held-out prompts are the dialogues up to the last Assistant turn
    train, held_out = (read_jsonl(repo / f"data/prompts/{name}.jsonl") for name in ("train", "eval"))
    texts = [r["chosen"] for r in dialogues()]
    for prompt in (p["prompt"] for p in train + held_out):
        assert prompt.rstrip().endswith("Assistant:") and any(t.startswith(prompt) for t in texts), prompt
    assert train and held_out and not {p["prompt"] for p in train} & {p["prompt"] for p in held_out}
    train_pairs, test_pairs = (read_jsonl(repo / f"data/preferences/{name}.jsonl") for name in ("train", "test"))
    assert {p["prompt"] for p in train} == {p["prompt"] for p in train_pairs}  # PPO optimises the reward model's training prompts
    assert {p["prompt"] for p in held_out} <= {
        p["prompt"] for p in test_pairs
    }  # evaluation holds out the file's test pairs' prompts
    prefs = json.loads((repo / "results/preferences/metrics.json").read_text())
    assert prefs["gold_available"] is False and prefs["prompts"] == "pairs"
    assert json.loads((repo / "results/prepare/metrics.json").read_text())["prompt_source"] == "pairs"
    # no simulated gold judges real labels: the report says so and shows no gold numbers
    metrics = json.loads((repo / "results/metrics.json").read_text())
    assert metrics["run"]["gold"] is None and metrics["gold_probes"] is None
    assert all("gold_reward" not in m and "proxy_win_rate_vs_base" in m for m in metrics["policies"].values())
    report = (repo / "REPORT.md").read_text()
    assert "No gold for this data" in report
    evals = (repo / "results/curves/ppo").glob("kl*/eval.csv")
    assert all("gold_reward" not in path.read_text().splitlines()[0].split(",") for path in evals)


@pytest.mark.parametrize("choice", ["pairs", "corpus"])
def test_preferences_prompts_param_picks_the_prompt_source(choice, tmp_path, monkeypatch):
    """Stage prepare alone (no DVC): preferences.prompts chooses the file's dialogues or the corpus."""
    import yaml

    import stages.prepare
    from pipeline.stage import run_stage

    (tmp_path / "corpus.txt").write_text("\n".join(corpus_lines()) + "\n")
    (tmp_path / "hh.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dialogues()))
    params = {
        "data": {"source": "file", "path": "corpus.txt"},
        "preferences": {"source": "file", "path": "hh.jsonl", "test_fraction": 0.25, "prompts": choice},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    run_stage(stages.prepare.main)
    prompts = [p["prompt"] for name in ("train", "eval") for p in read_jsonl(tmp_path / f"data/prompts/{name}.jsonl")]
    from_file = [p for p in prompts if "Human:" in p]
    assert prompts and from_file == (prompts if choice == "pairs" else [])


CHANGES = [  # a user file, and the stages that must see it change
    ("inputs/corpus/corpus.txt", {"prepare"}),
    ("inputs/preferences/hh.jsonl", {"prepare", "preferences"}),
    (
        "inputs/base/tiny/model.safetensors",
        {"prepare", "base_policy"},
    ),  # prepare renders dialogues with a local base's chat template
    ("inputs/backbone/rm/model.safetensors", {"reward_model"}),
    ("inputs/policies/other/model.safetensors", {"generate"}),
]


@pytest.mark.parametrize("rel,stages", CHANGES, ids=[c[0].split("/")[1] for c in CHANGES])
def test_changed_user_file_makes_its_stage_changed(repo, rel, stages):
    path = repo / rel
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, one byte differs
        status = json.loads(dvc(repo, "status", "--json").stdout)
        assert set(status) == stages, status
    finally:
        path.write_bytes(original)
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout


def test_user_file_outside_the_stage_deps_is_refused(repo):
    shutil.copy(repo / "inputs/corpus/corpus.txt", repo / "elsewhere.txt")
    params = (repo / "params.yaml").read_text()
    try:
        set_param(repo, "data.path", "elsewhere.txt")
        proc = sh(repo, str(BIN / "python"), "-m", "stages.prepare", check=False)
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
        assert (
            "data.path: elsewhere.txt is not a DVC dependency of stage 'prepare'" in errors[0] and "inputs/corpus/" in errors[0]
        )
    finally:
        (repo / "params.yaml").write_text(params)
        (repo / "elsewhere.txt").unlink()
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout


def complete_ppo_checkpoints(repo) -> list:
    """Stamps of renamed-in checkpoints (a checkpoint being written lives in a hidden `.name.tmp-*` sibling)."""
    root = repo / "checkpoints/ppo"
    return [p for p in root.rglob("fingerprint.txt") if not any(part.startswith(".") for part in p.relative_to(root).parts)]


def interrupt_after_ppo_checkpoint(repo, timeout: float = 400) -> None:
    """Run `dvc repro` and SIGKILL it as soon as a PPO checkpoint is complete (its fingerprint is renamed in last)."""
    repro_killed_when(repo, lambda: complete_ppo_checkpoints(repo), timeout, "the first PPO checkpoint")


def repro_log(repo) -> str:
    proc = dvc(repo, "repro")
    assert "ppo" in stage_names(proc.stdout)
    return proc.stdout + proc.stderr


def test_ppo_resumes_only_against_the_same_reward_model(repo):
    prefs_file = repo / "inputs/preferences/hh.jsonl"
    params, prefs = (repo / "params.yaml").read_text(), prefs_file.read_text()
    try:
        set_param(repo, "ppo.total_updates", 8)  # room to interrupt between checkpoints (every 2 updates)
        interrupt_after_ppo_checkpoint(repo)
        assert "resumed from update" in repro_log(repo)  # control: same inputs, so the checkpoint is used
        set_param(repo, "ppo.total_updates", 10)
        interrupt_after_ppo_checkpoint(repo)
        # relabel some pairs: the prompts (and so data/prompts) stay, only the reward model's training data changes
        rows = read_jsonl(prefs_file)
        rows[:12] = [{"chosen": r["rejected"], "rejected": r["chosen"]} for r in rows[:12]]
        prefs_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
        log = repro_log(repo)
        assert "Running stage 'reward_model'" in log and "resumed from update" not in log
    finally:
        (repo / "params.yaml").write_text(params)
        prefs_file.write_text(prefs)
