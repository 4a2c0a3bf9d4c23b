"""The independent judge's scoring (pipeline/lm_judge.py) on a tiny random GPT-2: SmolLM2 itself is an optional extra."""

import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def judge(tiny_model_dir):
    from pipeline.lm_judge import LMJudge
    from pipeline.models import load_policy, load_tokenizer

    return LMJudge(load_policy(tiny_model_dir).float().eval(), load_tokenizer(tiny_model_dir))


def test_scores_are_slor_and_mean_logprob_of_the_response_alone(judge):
    texts, prompts = ["the cat sat on the mat", "", "a good day"], ["once", "x", ""]
    scores = judge.scores(texts, prompts)
    assert scores[1] is None and judge.slor(texts, prompts)[1] is None
    start = judge._start()
    ids = start + judge.tokenizer("once", add_special_tokens=False)["input_ids"]
    response = [i for w in texts[0].split() for i in judge._word_ids(w)]
    logps = judge._sequence_logprobs([ids + response])[0]
    assert scores[0][1] == pytest.approx(np.mean(logps[len(ids) - 1 :]), abs=1e-6)  # the prompt's tokens do not count
    unigram = judge.unconditional(texts[0].split())
    per_word, at = [], len(ids) - 1
    for w in texts[0].split():
        n = len(judge._word_ids(w))
        per_word.append(sum(logps[at : at + n]) - unigram[w])
        at += n
    assert scores[0][0] == pytest.approx(np.mean(np.clip(per_word, -10, 10)), abs=1e-6)
    assert judge.scores(texts[2:], prompts[2:])[0] == pytest.approx(scores[2], abs=1e-5)  # batching changes nothing


def test_fluencies_map_each_score_through_its_own_calibration(judge):
    judge.slope, judge.intercept, judge.lp_slope, judge.lp_intercept = 2.0, 0.5, 0.25, 3.0
    texts, prompts = ["the cat sat on the mat", "", "love and joy"], ["", "", "a"]
    fluencies = judge.fluencies(texts, prompts)
    assert fluencies[1] == (0.0, 0.0)
    scored = [s for s in judge.scores(texts, prompts) if s]
    for (slor, lp), (f, f_lp) in zip(scored, [fluencies[0], fluencies[2]], strict=True):
        assert f == pytest.approx(1 / (1 + math.exp(-(2.0 * slor + 0.5))))
        assert f_lp == pytest.approx(1 / (1 + math.exp(-(0.25 * lp + 3.0))))
    assert judge.fluency(texts, prompts) == [f for f, _ in fluencies]
