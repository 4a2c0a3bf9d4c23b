"""The throughput benchmarks run (smoke sizes, CPU) and the PPO bench's FLOP count matches torch's own count."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import ppo_throughput as bench


def test_ppo_model_flops_match_torchs_flop_counter():
    """The update term (forward + backward of policy and value per PPO epoch) against torch's count of the same passes."""
    shape = replace(bench.TINY_SHAPE, n_embd=64, n_head=4)
    tok = bench.build_tokenizer(shape.vocab_size)
    models = bench.build_models(shape, tok)
    flops = bench.model_flops_per_update(shape, models)
    ids = torch.tensor(
        bench.make_prompts(replace(shape, prompt_length=shape.prompt_length + shape.response_length), shape.batch_size)
    )
    counter = FlopCounterMode(display=False)
    with counter:
        logits = models.policy(input_ids=ids).logits
        values = models.value(input_ids=ids).logits
        (logits.logsumexp(-1).sum() + values.sum()).backward()
    counted = counter.get_total_flops() * bench.PPO["ppo_epochs"]
    assert abs(flops["update"] / counted - 1) < 0.1, (flops["update"], counted)  # the gap: attention scores, not counted
    assert flops["total"] == flops["generation"] + flops["scoring"] + flops["update"] > flops["update"]


def run_bench(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_ppo_throughput_bench_times_ours_and_its_variants(tmp_path):
    out = tmp_path / "ppo.json"
    run_bench(
        "bench.ppo_throughput",
        "--tiny",
        "--updates",
        "1",
        "--repeats",
        "1",
        "--skip-trl",
        "--ours-variants",
        "default",
        "adamw=fused",
        "--out",
        str(out),
    )
    summary = json.loads(out.read_text())
    assert summary["mode"] == "cpu-tiny" and set(summary["results"]) == {"ours", "ours adamw=fused"}
    for res in summary["results"].values():
        assert res["timed_updates"] == 1 and res["episodes_per_s"] > 0
        assert 0 < res["share_of_gemm_rate"] and res["mfu"] is None  # no datasheet peak for a CPU
    assert summary["model_flops_per_update"]["total"] > 0 and summary["gemm_flops_per_s"] > 0


def test_generate_throughput_bench_names_the_default_path(tmp_path):
    out = tmp_path / "gen.json"
    run_bench("bench.generate_throughput", "--prompts", "2", "--k", "1", "--out", str(out))
    summary = json.loads(out.read_text())
    assert summary["device"] == "cpu" and summary["default_path"] == "batched"  # auto is the decoding loop on CPU
    assert set(summary["samples_per_s"]) == {"batched", "hf_dynamic", "hf_static", "one_per_call"}
    assert (
        summary["ratio_default_over_fastest"]
        == summary["samples_per_s"]["batched"] / summary["samples_per_s"][summary["fastest_path"]]
    )


def test_pipeline_stages_expands_every_methods_curves():
    from bench.pipeline_stages import expand
    from pipeline.config import parse_params

    params = parse_params(
        {"curves": {"ppo_kl_coef": [0.01, 0.1], "dpo_beta": [0.05], "rloo_kl_coef": [], "grpo_kl_coef": [0.03]}}
    )
    stages = expand(["report", "ppo", "dpo", "rloo", "grpo", "prepare"], params)
    assert [s.name for s in stages] == ["prepare", "ppo@0.01", "ppo@0.1", "dpo@0.05", "grpo@0.03", "report"]
    assert stages[2].args == ("stages.ppo", "--kl-coef", "0.1") and stages[3].args == ("stages.dpo", "--beta", "0.05")
    assert str(stages[3].timing) == "results/curves/dpo/kl0.05/timing.json"
    assert str(stages[0].timing) == "results/prepare/timing.json"


def test_gold_attack_greedy_search_climbs_and_keeps_words_distinct():
    import numpy as np

    from bench import gold_attack

    vocab = [f"w{i}" for i in range(50)] + [f"good{i}" for i in range(10)]

    def judge(texts):  # share of "good" words: the search should fill the text with them
        return [sum(w.startswith("good") for w in t.split()) / gold_attack.WORDS for t in texts]

    run = gold_attack.greedy_attack(judge, vocab, 600, np.random.default_rng(0), {"neutral": 0.2, "positive": 0.4})
    words = run["text"].split()
    assert run["best"] >= 0.4 and run["evals"] >= 600 and len(words) == gold_attack.WORDS
    assert len(set(words)) / len(words) >= gold_attack.MIN_DISTINCT
    assert run["evals_to_pass_neutral"] <= run["evals_to_pass_positive"] <= run["evals"]


def test_gold_attack_babble_only_uses_seen_trigrams():
    import numpy as np

    from bench import gold_attack

    entries = [["the", "cat", "sat", "on", "the", "mat"], ["the", "cat", "ran", "to", "the", "door"]]
    follow = gold_attack.trigram_follow(entries)
    words = gold_attack.babble(entries, follow, np.random.default_rng(1), 12).split()
    assert len(words) == 12
    seen = {tuple(e[i : i + 3]) for e in entries for i in range(len(e) - 2)}
    restarts = {tuple(e[:2]) for e in entries}
    for i in range(len(words) - 2):  # every window is a seen trigram, or crosses a jump to an entry's first two words
        crosses = any(tuple(words[j : j + 2]) in restarts for j in (i + 1, i + 2))
        assert tuple(words[i : i + 3]) in seen or crosses, words[i : i + 3]


def test_base_gradeability_scores_a_saved_base_and_summarises_the_gold_parts(tmp_path, tiny_model_dir, monkeypatch):
    """The benchmark that chose the quick profile's base: a base is sampled on evaluation prompts and graded by the gold."""
    from bench import base_gradeability
    from pipeline.io import write_jsonl
    from pipeline.profiles import profile_params, render

    parts = [
        {"gold": -0.9, "sentiment": 0.0, "fluency": 0.1, "repetition": 1.0},
        {"gold": -0.2, "sentiment": 0.5, "fluency": 0.6, "repetition": 1.0},
        {"gold": 0.3, "sentiment": 0.8, "fluency": 0.9, "repetition": 0.5},
    ]
    summary = base_gradeability.gradeability(parts)
    assert summary["share_above_-0.5"] == 2 / 3 and summary["share_above_0"] == 1 / 3
    assert abs(summary["gold_mean"] - (-0.8 / 3)) < 1e-12 and summary["repetition_mean"] == 2.5 / 3

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(render(profile_params("tiny"), "tiny"))
    write_jsonl(tmp_path / "data/corpus/validation.jsonl", [{"text": "The sun is warm and the sea is calm. " * 20}])
    write_jsonl(
        tmp_path / "data/prompts/eval.jsonl",
        [{"prompt_id": i, "prompt": f"I like the {w}"} for i, w in enumerate(("sea", "sun", "sky"))],
    )
    base_gradeability.main(["--load", str(tiny_model_dir), "--prompts", "3", "--samples", "2", "--out", "g.json"])
    result = json.loads((tmp_path / "g.json").read_text())
    assert result["n"] == 6 and result["pretrain_seconds"] is None and result["perplexity"] > 1
    assert -1 <= result["gold_mean"] <= 1 and 0 <= result["share_above_-0.5"] <= 1


def test_base_gradeability_compares_the_golds_pick_per_prompt_with_the_lm_judges():
    """With --lm-judge: rho of the two golds on the base's samples, and what the gold's best-of-k pick gains by each."""
    from bench.base_gradeability import agreement

    part = lambda g, f, r=1.0: {"gold": g, "fluency": f, "repetition": r}  # noqa: E731
    gold = [part(0.5, 0.9), part(-0.5, 0.2), part(0.1, 0.6), part(-0.9, 0.1, 0.5)]
    lm = [part(-0.2, 0.3), part(0.4, 0.8), part(0.0, 0.5), part(-0.9, 0.0, 0.5)]
    result = agreement(gold, lm, [0, 0, 1, 1])
    # prompt 0: the gold picks sample 0, which the LM judge puts 0.3 below the prompt's mean (0.1); prompt 1: sample 2,
    # 0.45 above its mean by the LM judge; the LM judge's own picks (1 and 2) gain 0.3 and 0.45
    assert abs(result["gold_pick_gain_by_lm"] - (-0.3 + 0.45) / 2) < 1e-12
    assert abs(result["gold_pick_gain_by_gold"] - (0.5 + 0.5) / 2) < 1e-12
    assert abs(result["lm_pick_gain_by_lm"] - (0.3 + 0.45) / 2) < 1e-12
    assert result["spearman_no_repetition"] == -1.0 and result["spearman"] == 0.2
    assert result["lm_share_fluency_above_0.5"] == 0.25 and abs(result["lm_fluency_mean"] - 0.4) < 1e-12
    assert result["n_no_repetition"] == 3
    # a tie for the gold's best: the pick is the mean of the tied samples, whatever their order; a one-sample prompt
    # has no pick
    tied = [part(0.5, 0.9), part(0.5, 0.9), part(0.0, 0.5), part(0.2, 0.5)]
    lm_tied = [part(-0.4, 0.3), part(0.4, 0.8), part(0.0, 0.5), part(0.9, 0.5)]
    for order in ([0, 1, 2], [1, 0, 2]):
        got = agreement([tied[i] for i in order], [lm_tied[i] for i in order], [0, 0, 1])
        assert abs(got["gold_pick_gain_by_lm"] - (0.0 - 0.0)) < 1e-12
    with pytest.raises(ValueError, match="differ"):
        agreement(gold, lm[:3], [0, 0, 1, 1])


def test_gold_agreement_names_its_run_and_separates_shared_repetition(tmp_path, monkeypatch):
    """The agreement record: which run it scored, rho with and without the texts both judges floor for repetition,
    per-policy means, and who ranks the furthest-apart texts higher (the LM judge stubbed: SmolLM2 is an extra)."""
    import bench.gold_agreement as agreement
    from pipeline import gold
    from reporting.data import metrics_digest

    monkeypatch.chdir(tmp_path)
    texts = [
        "The concert was fantastic and the orchestra played brilliantly.",
        "the the the the the the the the the the the the",
        "He checked the oil and filled the tank before the long drive.",
        "love love love love love love love love",
        "wonderful amazing great the of and joy best happy",
        "The delay was awful and the staff were rude to everyone.",
    ]
    (tmp_path / "outputs").mkdir()
    for name in ("base", "ppo_kl0p1"):
        rows = [{"prompt": "Once", "response": t} for t in texts]
        (tmp_path / "outputs" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    curve = tmp_path / "results" / "curves" / "ppo" / "kl0.1"
    curve.mkdir(parents=True)
    curve.joinpath("eval_samples.jsonl").write_text(
        "".join(json.dumps({"prompt": "", "response": t, "update": 3}) + "\n" for t in texts)
    )
    (tmp_path / "results" / "metrics.json").write_text('{"run": {"seed": 0}}')

    def lm_judge(texts, prompts=None):  # agrees with the gold on repetition and sentiment, inverts its fluency
        parts = gold.GOLD_COMPONENTS["readable_sentiment"](texts, prompts)
        out = []
        for p in parts:
            f = 1 - p["fluency"]
            g = f * p["repetition"] * (1 + p["sentiment"]) - 1
            out.append(p | {"fluency": f, "gold": g, "fluency_logprob": p["fluency"], "gold_logprob": p["gold"]})
        return out

    monkeypatch.setitem(gold.GOLD_COMPONENTS, "smollm2_sentiment", lm_judge)
    monkeypatch.setattr(agreement, "GOLD_COMPONENTS", gold.GOLD_COMPONENTS)
    monkeypatch.setattr("sys.argv", ["gold_agreement", "--n", "18", "--worst", "3"])
    assert agreement.main() == 0
    record = json.loads((tmp_path / "bench" / "results" / "gold_agreement.json").read_text())
    assert record["run_metrics_sha256"] == metrics_digest(tmp_path / "results") and record["n"] == 18
    assert record["spearman_fluency"] == -1.0 and record["spearman_fluency_logprob"] == 1.0
    assert record["spearman_logprob"] == 1.0 and record["n_no_repetition"] == 12  # two repeated texts per group
    assert record["spearman_no_repetition"] < record["spearman"]  # shared floors made the golds look closer
    assert set(record["per_policy"]) == {"base", "ppo_kl0p1", "ppo/kl0.1"}
    base = record["per_policy"]["base"]
    rows = [json.loads(line) for line in (tmp_path / "bench" / "out" / "gold_agreement_rows.jsonl").read_text().splitlines()]
    base_fluency = np.mean([r["smollm2_sentiment_fluency"] for r in rows if r["source"] == "base"])
    assert base["n"] == 6 and base["mean_smollm2_sentiment_fluency"] == pytest.approx(base_fluency, abs=1e-3)
    sides = record["disagreements"]
    assert sides["gold_higher"]["n"] >= 1 and sides["lm_higher"]["n"] >= 1 and sides["all_policy_samples"]["n"] == 18
    assert len(record["worst_disagreements"]) == 3
    assert len(rows) == 18 + len(gold.GOLD_PROBES)


def test_gold_agreement_profiles_only_the_furthest_apart_texts():
    from bench.gold_agreement import disagreement_profile

    policy = [{"response": t} for t in ("plain words here", "xqzt vrrb plok", "a b c", "the end.", "zzkq wwq", "ok")]
    gap = np.array([0.9, -0.8, 0.1, -0.05, -0.7, 0.0])
    profile = disagreement_profile(policy, gap, top=3)
    assert profile["gold_higher"]["n"] == 1 and profile["lm_higher"]["n"] == 2  # 0.9, then -0.8 and -0.7
    assert profile["lm_higher"]["mean_unknown_word_share"] == 1.0 and profile["gold_higher"]["mean_unknown_word_share"] == 0
    assert profile["all_policy_samples"]["n"] == 6


def test_gold_attack_judges_are_chosen_by_name_and_read_the_prompt(tmp_path, monkeypatch):
    from bench import gold_attack

    monkeypatch.chdir(tmp_path)  # no models/reward here: "proxy" is skipped, not an error
    chosen = gold_attack.judges("I hate it.", ("vader", "proxy"))
    assert list(chosen) == ["vader"]
    assert chosen["vader"](["I love it."]) == gold_attack.get_gold_scorer("vader")(["I love it."])
    # a scorer that reads prompts gets the attack's prompt: the same response scores differently after another one
    after = {
        p: gold_attack.judges(p, ("readable_sentiment",))["readable_sentiment"](["and then the rain stopped."])[0]
        for p in ("It was", "zq xv")
    }
    assert after["It was"] != after["zq xv"]


def attack_test_judge(texts, prompts=None):
    """A plug-in judge for the attack's command line: the share of words starting with 'love', plus 0.001 per prompt word."""
    prompts = prompts or [""] * len(texts)
    return [
        min(1.0, sum(w.startswith("love") for w in t.split()) / 18 + 0.001 * len(p.split()))
        for t, p in zip(texts, prompts, strict=True)
    ]


attack_test_judge.reads_prompts = True


def test_gold_attack_command_line_runs_a_plugin_judge_and_writes_its_report(tmp_path, monkeypatch):
    import json
    import sys

    from bench import gold_attack

    monkeypatch.chdir(tmp_path)  # no data/prompts here: the attack reads its responses after "It is a truth"
    out = tmp_path / "attack.json"
    spec = "tests.test_bench:attack_test_judge"
    argv = ["gold_attack", "--restarts", "1", "--budget", "40", "--babble", "16", "--judges", spec, "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    assert gold_attack.main() == 0
    report = json.loads(out.read_text())
    assert list(report)[-1] == spec and report["prompt"] == "It is a truth"
    entry = report[spec]
    assert entry["neutral_probe_mean"] == pytest.approx(0.004)  # no 'love' words in the probes; 4 prompt words
    assert len(entry["restarts"]) == 1 and entry["restarts"][0]["evals"] >= 40
    assert set(entry["other_attacks"]) >= {"injected", "babble_all"}
    # asking for the proxy without a reward model fails in one line, before any search
    monkeypatch.setattr(sys, "argv", ["gold_attack", "--judges", "proxy", "--out", str(tmp_path / "no.json")])
    with pytest.raises(SystemExit):
        gold_attack.main()
    assert not (tmp_path / "no.json").exists()
