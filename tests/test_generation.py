"""Sampling: the inverse-CDF draw, the KV-cached decoding loop against transformers, EOS cutting, padding."""

import numpy as np
import pytest
import torch

import pipeline.generation as generation
from pipeline.config import SamplingConfig
from pipeline.generation import decode, generate_samples, left_pad, row_noise, sample, sample_next, truncate_after_eos
from pipeline.models import load_policy, load_tokenizer

SAMPLE_6 = SamplingConfig(max_new_tokens=6)  # fixed-length responses of 6 tokens at temperature 1


def test_sample_next_draws_from_the_softmax_at_the_temperature():
    logits = torch.tensor(
        [[2.0, 1.0, 0.0, -1.0, float("-inf")], [0.0, 0.0, 0.0, 0.0, 0.0], [float("-inf"), 5.0, float("-inf"), 0.0, 1.0]]
    )
    n = 40_000
    torch.manual_seed(0)
    for temperature in (1.0, 2.0):
        draws = sample_next(logits.repeat_interleave(n, 0), temperature).view(3, n)
        expected = torch.softmax(logits / temperature, -1)
        for row in range(3):
            freq = torch.bincount(draws[row], minlength=5).double() / n
            assert freq.tolist() == pytest.approx(expected[row].tolist(), abs=0.01)
            assert freq[expected[row] == 0].sum() == 0  # an impossible token is never drawn


def test_decode_loop_matches_transformers_greedy(tiny_model_dir, monkeypatch):
    """With argmax in place of the draw, the cached loop must reproduce generate()'s greedy tokens (padding, positions, cache)."""
    tok = load_tokenizer(tiny_model_dir)
    model = load_policy(tiny_model_dir, "tiny", torch.device("cpu"))
    q, mask = left_pad([[5, 6, 7, 8, 9], [10, 11], [12]], tok.pad_token_id)
    monkeypatch.setattr(generation, "sample_next", lambda logits, temperature, u: logits.argmax(-1))
    ours, _ = decode(model, q, mask, 7, 1.0, tok.eos_token_id, tok.pad_token_id, stop_at_eos=False, noise=torch.rand(3, 7))
    ref = model.generate(
        input_ids=q,
        attention_mask=mask,
        do_sample=False,
        max_new_tokens=7,
        min_new_tokens=7,
        pad_token_id=tok.pad_token_id,
        eos_token_id=None,
    )[:, q.shape[1] :]
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_the_samplers_log_probs_equal_a_forward_pass(tiny_model_dir, temperature):
    """Evaluation points take the policy's log-probs from the decoding loop instead of a second forward pass: they must
    be the forward pass's (tempered, zero after the EOS) up to floating-point noise."""
    tok = load_tokenizer(tiny_model_dir)
    model = load_policy(tiny_model_dir, "tiny", torch.device("cpu"))
    q, mask = left_pad([[5, 6, 7, 8, 9], [10, 11], [12], [13, 14, 15]], tok.pad_token_id)
    noise = row_noise(3, [(i,) for i in range(4)], 8)
    batch = sample(model, q, mask, 8, temperature, tok.eos_token_id, tok.pad_token_id, noise=noise)
    full = generation.response_logprobs(model, batch, temperature)
    assert batch.sampled_logprobs.shape == full.shape and torch.allclose(batch.sampled_logprobs, full, atol=1e-4)
    assert bool((batch.sampled_logprobs[batch.response_mask == 0] == 0).all())
    assert torch.equal(batch.index(torch.tensor([2])).sampled_logprobs, batch.sampled_logprobs[2:3])
    prompts = [{"prompt_id": i, "prompt": p["prompt"]} for i, p in enumerate(VARIED)]
    kwargs = dict(samples_per_prompt=2, batch_size=8, seed=0, device="cpu", policy_name="p", progress=False)
    sampling = SamplingConfig(max_new_tokens=6, temperature=temperature)
    forward = generate_samples(model, tok, prompts, sampling, **kwargs)
    own = generate_samples(model, tok, prompts, sampling, sampler_logprobs=True, **kwargs)
    assert [r["response_ids"] for r in own] == [r["response_ids"] for r in forward]
    assert [r["logprob"] for r in own] == pytest.approx([r["logprob"] for r in forward], abs=1e-4)
    assert all(r["ref_logprob"] == r["logprob"] for r in own)  # the policy is its own reference: KL exactly 0


def test_sampled_responses_are_cut_after_the_first_eos(tiny_model_dir, monkeypatch):
    tok = load_tokenizer(tiny_model_dir)
    model = load_policy(tiny_model_dir, "tiny", torch.device("cpu"))
    eos, pad = tok.eos_token_id, tok.pad_token_id
    script = iter([[5, 6], [eos, 7], [8, 9], [10, eos]])  # row 0 ends at step 2, row 1 at step 4
    monkeypatch.setattr(generation, "sample_next", lambda logits, temperature, u: torch.tensor(next(script)))
    q, mask = left_pad([[5, 6], [7]], pad)
    batch = sample(model, q, mask, 6, 1.0, eos, pad, stop_at_eos=True)
    assert batch.response_ids.tolist() == [[5, eos, pad, pad, pad, pad], [6, 7, 9, eos, pad, pad]]
    assert batch.response_mask.tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]]
    assert batch.ended_with_eos.tolist() == [True, True]


def test_an_eos_in_the_last_slot_ends_the_response(tiny_model_dir, monkeypatch):
    """The first EOS at the last position is still an EOS ending (it was reported as a length cut-off)."""
    tok = load_tokenizer(tiny_model_dir)
    model = load_policy(tiny_model_dir, "tiny", torch.device("cpu"))
    eos, pad = tok.eos_token_id, tok.pad_token_id
    script = iter([[5, 6], [7, 8], [eos, 9]])  # row 0: EOS in slot 3 of 3; row 1: no EOS
    monkeypatch.setattr(generation, "sample_next", lambda logits, temperature, u: torch.tensor(next(script)))
    q, mask = left_pad([[5, 6], [7]], pad)
    batch = sample(model, q, mask, 3, 1.0, eos, pad, stop_at_eos=True)
    assert batch.response_mask.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert batch.ended_with_eos.tolist() == [True, False]
    assert batch.index(torch.tensor([0])).ended_with_eos.tolist() == [True]
    records = generation._records(
        [({"prompt_id": 0, "prompt": "a"}, 0), ({"prompt_id": 1, "prompt": "b"}, 0)], batch, None, None, tok, "base"
    )
    assert [r["ended_with_eos"] for r in records] == [True, False]
    assert records[0]["response_ids"] == [5, 7, eos] and records[0]["n_tokens"] == 3


def test_fixed_length_responses_never_end_with_eos(tiny_model_dir, monkeypatch):
    tok = load_tokenizer(tiny_model_dir)
    model = load_policy(tiny_model_dir, "tiny", torch.device("cpu"))
    eos, pad = tok.eos_token_id, tok.pad_token_id
    script = iter([[5], [eos]])
    monkeypatch.setattr(generation, "sample_next", lambda logits, temperature, u: torch.tensor(next(script)))
    q, mask = left_pad([[5, 6]], pad)
    assert sample(model, q, mask, 2, 1.0, eos, pad, stop_at_eos=False).ended_with_eos.tolist() == [False]


def test_truncate_after_eos_and_left_pad_by_hand():
    ids, mask = truncate_after_eos(torch.tensor([[3, 1, 4, 1], [5, 9, 2, 6]]), eos_id=1, pad_id=0)
    assert ids.tolist() == [[3, 1, 0, 0], [5, 9, 2, 6]] and mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    q, m = left_pad([[7, 8], [9]], pad_id=0, width=4)
    assert q.tolist() == [[0, 0, 7, 8], [0, 0, 0, 9]] and m.tolist() == [[0, 0, 1, 1], [0, 0, 0, 1]]


def test_generate_samples_is_seeded_and_its_logprobs_match_a_full_forward(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    model = load_policy(tiny_model_dir, "tiny", torch.device("cpu"))
    prompts = [{"prompt_id": i, "prompt": p} for i, p in enumerate(["the cat", "a dog was", "sun"])]
    run = lambda bs: generate_samples(  # noqa: E731
        model,
        tok,
        prompts,
        SAMPLE_6,
        samples_per_prompt=3,
        batch_size=bs,
        seed=11,
        device=torch.device("cpu"),
        policy_name="base",
    )
    first, again = run(4), run(4)
    assert [r["response_ids"] for r in first] == [r["response_ids"] for r in again]
    assert len(first) == 9 and all(r["n_tokens"] == 6 for r in first)
    for r in first:  # the summed log-prob of a response, recomputed one sequence at a time
        ids = torch.tensor([tok(r["prompt"], add_special_tokens=False)["input_ids"] + r["response_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
        n = len(r["response_ids"])
        expected = logp[-n:].gather(-1, ids[0, -n:, None]).sum().item()
        assert r["logprob"] == pytest.approx(expected, abs=1e-3) and r["ref_logprob"] == r["logprob"]
    assert np.isfinite([r["logprob"] for r in first]).all()


def test_fit_prompt_ids_keeps_the_end_of_long_prompts():
    prompts = [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10]]
    assert generation.fit_prompt_ids(prompts, positions=10, new_tokens=4) == [[3, 4, 5, 6, 7, 8], [9, 10]]
    assert generation.fit_prompt_ids(prompts, positions=None, new_tokens=4) == prompts
    with pytest.raises(
        generation.ConfigError,
        match="sampling.max_new_tokens: 10 new tokens leave no room for a prompt in the model's 10 positions",
    ):
        generation.fit_prompt_ids(prompts, positions=10, new_tokens=10, key="sampling.max_new_tokens")


def test_prompts_longer_than_the_context_are_cut_not_crashed(tiny_model_dir):
    """A 64-position model and a prompt of well over 64 tokens: it used to end in an IndexError in the position embeddings."""
    tok = load_tokenizer(tiny_model_dir)
    model = load_policy(tiny_model_dir, "tiny", torch.device("cpu"))
    long_prompt = " ".join(["the cat sat on the mat"] * 30)
    assert len(tok(long_prompt)["input_ids"]) > model.config.n_positions
    prompts = [{"prompt_id": 0, "prompt": long_prompt}, {"prompt_id": 1, "prompt": "a dog"}]
    records = generate_samples(
        model, tok, prompts, SAMPLE_6, samples_per_prompt=2, batch_size=4, seed=0, device=torch.device("cpu"), policy_name="base"
    )
    assert len(records) == 4 and all(r["n_tokens"] == 6 and np.isfinite(r["logprob"]) for r in records)
    assert records[0]["prompt"] == long_prompt  # the record keeps the prompt text; only the model's input is cut


def test_auto_cache_picks_the_compiled_static_cache_on_cuda_and_the_loop_elsewhere(caplog):
    generation._announced.clear()
    with caplog.at_level("INFO", logger="rlhf_bench"):
        assert generation.resolve_cache("auto", torch.device("cpu")) == "dynamic"
        assert generation.resolve_cache("auto", "cpu") == "dynamic"
        assert generation.resolve_cache("auto", torch.device("cuda", 0)) == "static"
    assert [r.getMessage() for r in caplog.records] == [
        f"sampling.cache auto on cpu: {generation.SAMPLERS['dynamic']}",
        f"sampling.cache auto on cuda: {generation.SAMPLERS['static']}",
    ]  # once per device, naming the sampler
    assert generation.resolve_cache("static", "cpu") == "static" and generation.resolve_cache("dynamic", "cuda") == "dynamic"


def test_the_default_sampler_on_cpu_is_the_decoding_loop(tiny_model_dir, monkeypatch):
    tok, model = load_tokenizer(tiny_model_dir), load_policy(tiny_model_dir)
    q, m = left_pad(tok(["the cat", "a"], add_special_tokens=False)["input_ids"], tok.pad_token_id)
    assert SamplingConfig().cache == "auto"
    monkeypatch.setattr(generation, "hf_generate", lambda *a, **k: pytest.fail("auto took generate on CPU"))
    torch.manual_seed(3)
    auto = sample(model, q, m, 5, 1.0, tok.eos_token_id, tok.pad_token_id, False, "auto")
    torch.manual_seed(3)
    loop = sample(model, q, m, 5, 1.0, tok.eos_token_id, tok.pad_token_id, False, "dynamic")
    assert torch.equal(auto.response_ids, loop.response_ids)


# ---------------------------------------------------------------- batch invariance: a sample's draws are its own
# prompts of 1 to 12 tokens, so batches of different sizes pad them to different widths
VARIED = [{"prompt_id": 10 + i, "prompt": " ".join(["the cat sat on the mat"] * (i % 3 + 1))[: 4 + 9 * i]} for i in range(7)]


def run_at(model, tok, batch_size: int, sampling=SAMPLE_6) -> list[dict]:
    kw = dict(samples_per_prompt=3, seed=5, device=torch.device("cpu"), policy_name="base")
    return generate_samples(model, tok, VARIED, sampling, batch_size=batch_size, **kw)


@pytest.mark.parametrize("stop_at_eos", [False, True])
def test_the_batch_size_leaves_every_sample_unchanged(tiny_model_dir, stop_at_eos):
    tok, model = load_tokenizer(tiny_model_dir), load_policy(tiny_model_dir)
    sampling = SamplingConfig(max_new_tokens=8, stop_at_eos=stop_at_eos, temperature=1.5)
    runs = {bs: run_at(model, tok, bs, sampling) for bs in (1, 4, 9, 64)}
    # every field, the log-probs of the batched forward passes included, to the last bit: every batch is padded to
    # the longest prompt of the call, so a row's logits do not depend on its batch-mates
    assert runs[1] == runs[4] == runs[9] == runs[64]
    # the invariance is not that of a constant: the 3 samples of a prompt differ, and so do the prompts' streams
    assert len({tuple(r["response_ids"]) for r in runs[1]}) > len(VARIED)


def test_a_sample_does_not_depend_on_its_batch_mates(tiny_model_dir):
    """Row 0 alone, then among prompts of other lengths (so other padding), in another position: the same tokens."""
    tok, model = load_tokenizer(tiny_model_dir), load_policy(tiny_model_dir)
    eos, pad = tok.eos_token_id, tok.pad_token_id
    ids = tok(["a dog", "the cat sat on the mat and was happy", "sun"], add_special_tokens=False)["input_ids"]
    noise = row_noise(7, [(0, 0), (1, 0), (2, 0)], 12)
    alone = sample(model, *left_pad(ids[:1], pad), 12, 1.0, eos, pad, False, "dynamic", noise[:1])
    mixed = sample(model, *left_pad([ids[1], ids[0], ids[2]], pad), 12, 1.0, eos, pad, False, "dynamic", noise[[1, 0, 2]])
    assert mixed.response_ids[1].tolist() == alone.response_ids[0].tolist()


def test_row_noise_is_a_function_of_the_seed_and_the_key_only():
    a = row_noise(3, [(0, 0), (0, 1), (5, 2)], 6)
    assert a.shape == (3, 6) and ((a >= 0) & (a < 1)).all()
    assert torch.equal(row_noise(3, [(5, 2)], 6)[0], a[2])  # the same key alone or among others
    assert not torch.equal(a[0], a[1])  # another sample index: another stream
    assert not torch.equal(row_noise(4, [(0, 0)], 6)[0], a[0])  # another seed: another stream
    assert row_noise(3, [], 6).shape == (0, 6)


@pytest.mark.parametrize("stop_at_eos", [False, True])
def test_the_static_cache_sampler_draws_the_loops_tokens(tiny_model_dir, stop_at_eos):
    """transformers' generate (sampling.cache: static) takes the rows' own draws, so it samples what the loop samples."""
    tok, model = load_tokenizer(tiny_model_dir), load_policy(tiny_model_dir)
    eos, pad = tok.eos_token_id, tok.pad_token_id
    q, m = left_pad(tok(["a dog", "the cat sat on", "sun"], add_special_tokens=False)["input_ids"], pad)
    noise = row_noise(1, [(i, 0) for i in range(3)], 10)
    static = sample(model, q, m, 10, 1.3, eos, pad, stop_at_eos, "static", noise)
    loop = sample(model, q, m, 10, 1.3, eos, pad, stop_at_eos, "dynamic", noise)
    assert static.response_ids.tolist() == loop.response_ids.tolist()
    assert static.response_mask.tolist() == loop.response_mask.tolist()


def test_the_generate_stage_writes_identical_outputs_at_two_batch_sizes(tiny_model_dir, tmp_path, monkeypatch):
    """The generate stage (its main) run twice, only generate.batch_size changed: byte-identical outputs/."""
    import shutil

    import yaml

    import stages.generate
    from pipeline.io import write_jsonl

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, "models/base")
    write_jsonl("data/prompts/eval.jsonl", [{"prompt_id": i, "prompt": p["prompt"]} for i, p in enumerate(VARIED)])
    outputs = []
    for batch_size in (3, 64):
        generate = {"policies": ["base"], "samples_per_prompt": 2, "base_samples_per_prompt": 4, "batch_size": batch_size}
        params = {"device": "cpu", "sampling": {"max_new_tokens": 6}, "generate": generate, "evaluate": {"best_of_n_max": 4}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        stages.generate.main()
        outputs.append((tmp_path / "outputs/base.jsonl").read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") == 4 * len(VARIED)
