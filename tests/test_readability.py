"""The default gold, readable_sentiment: the wider probe set, bounded evidence, text the policy never saw, its parts."""

import json

import numpy as np
import pytest

from pipeline.gold import GOLD_COMPONENTS, get_gold_scorer, probe_order_holds, probe_scores, score_gold
from pipeline.ngram import KneserNey
from pipeline.readability import features, fit_logistic, gold_entries, gold_readability, tokens, word_class

# Probes the judge still gets wrong (see bench/RESULTS.md, "The gold judge"): each is an xfail(strict=True),
# so fixing one turns its test red until it leaves this list.
KNOWN_FAILURES = {
    "fluent positive 3": "novel phrasing whose skeleton the fortune text rarely has",
    "degenerate 12": "a list of capitalised names reads as a sentence of names",
    "degenerate 15": "positive words injected in a real sentence keep its skeleton",
    "degenerate 16": "positive words injected in a real sentence keep its skeleton",
    "degenerate 19": "n-gram babble of common phrases is locally English",
    "degenerate 20": "n-gram babble of common phrases is locally English",
    "degenerate 21": "RL output that is locally English",
}


@pytest.fixture(scope="module")
def probes():
    return probe_scores(get_gold_scorer("readable_sentiment"))


def _golds(probes, kind):
    return [p["gold"] for p in probes if p["kind"] == kind]


def test_the_probe_set_is_wide_and_written_for_the_tests():
    from pipeline.gold_probes import DEGENERATE, FLUENT_NEGATIVE, FLUENT_NEUTRAL, FLUENT_POSITIVE

    assert len(FLUENT_POSITIVE) >= 20 and len(FLUENT_NEUTRAL) >= 20 and len(FLUENT_NEGATIVE) >= 10 and len(DEGENERATE) >= 20
    fit, calibration = gold_entries()
    corpus = " ".join(fit + calibration).lower()
    assert not any(t.lower() in corpus for t in FLUENT_POSITIVE + FLUENT_NEUTRAL + FLUENT_NEGATIVE)


def test_novel_english_scores_by_its_sentiment(probes):
    pos, neu, neg = (np.mean(_golds(probes, k)) for k in ("fluent_positive", "fluent_neutral", "fluent_negative"))
    assert pos - neu > 0.3 and neu - neg > 0.3, (pos, neu, neg)
    assert abs(neu) < 0.2  # neutral English reads as neutral, not as gibberish
    assert np.mean(_golds(probes, "degenerate")) < neu - 0.3


@pytest.mark.parametrize("name", [n for n, k, _ in __import__("pipeline.gold", fromlist=["GOLD_PROBES"]).GOLD_PROBES])
def test_each_probe_sits_where_a_careful_reader_puts_it(probes, name, request):
    if name in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name]))
    probe = next(p for p in probes if p["name"] == name)
    neutral = _golds(probes, "fluent_neutral")
    if probe["kind"] == "fluent_positive":
        assert probe["gold"] > np.median(neutral)
    elif probe["kind"] in ("fluent_negative", "degenerate"):
        assert probe["gold"] < min(neutral)
    assert -1.0 <= probe["gold"] <= 1.0


def test_the_round2_gold_fails_the_wider_probes():
    """Why the default changed: fluent_sentiment is carried by memorised names and misreads plain English."""
    assert not probe_order_holds(probe_scores(get_gold_scorer("fluent_sentiment")))


def test_no_handful_of_words_carries_a_text():
    model = gold_readability()
    salad = "others own love great wonderful kind sweet smile water drops surely wisdom"
    spiked = "others ambrose bierce own ambrose bierce love great wonderful kind sweet smile"
    memorised = "salad of course the best is yet to come love great wonderful kind sweet smile"
    assert model.score(salad) < 0.3
    assert model.score(spiked) < 0.3 and model.score(memorised) < 0.5


def test_each_feature_is_bounded_per_word():
    from pipeline.readability import SKELETON_CLIP, WORD_CLIP

    x = features("ambrose bierce " * 10)
    assert SKELETON_CLIP[0] <= x[0] <= SKELETON_CLIP[1] and WORD_CLIP[0] <= x[1] <= WORD_CLIP[1]
    assert all(0 <= v <= 1 for v in x[2:])
    assert features("!!! 123") is None


def test_the_gold_never_fits_on_the_policy_corpus():
    from pipeline.config import DataConfig
    from pipeline.corpus import load_corpus, without_attribution

    fit, calibration = gold_entries()
    policy = {without_attribution(e) for e in load_corpus(DataConfig())}
    assert fit and calibration and not (set(fit) | set(calibration)) & policy


def test_the_response_is_read_as_a_continuation_of_its_prompt():
    scorer = get_gold_scorer("readable_sentiment")
    response = "and the children were happy to see it."
    with_prompt = score_gold(scorer, [response], ["We went to the park"])
    assert with_prompt != score_gold(scorer, [response])
    assert score_gold(scorer, [response], ["We went to the park"]) == with_prompt  # deterministic


def test_components_explain_the_gold():
    parts = GOLD_COMPONENTS["readable_sentiment"](["I love this wonderful day.", "love love love love love love"])
    for p in parts:
        assert set(p) == {"sentiment", "fluency", "repetition", "gold"}
        assert p["gold"] == pytest.approx(p["fluency"] * p["repetition"] * (1 + p["sentiment"]) - 1)
    assert parts[1]["repetition"] == 0.0 and parts[0]["fluency"] > 0.5


def test_add_gold_scores_records_the_parts():
    from pipeline.gold import add_gold_scores

    records = [{"prompt": "We went", "response": "to the park and had a lovely day."}, {"response": "love love love"}]
    add_gold_scores(records, get_gold_scorer("readable_sentiment"), {"gold_mean": -0.5, "gold_std": 0.5})
    parts = GOLD_COMPONENTS["readable_sentiment"]([r["response"] for r in records], ["We went", ""])
    for r, p in zip(records, parts, strict=True):
        assert r["gold_reward"] == p["gold"] and r["gold_fluency"] == p["fluency"] and r["gold_sentiment"] == p["sentiment"]
        assert r["gold_reward_norm"] == pytest.approx((p["gold"] + 0.5) / 0.5)


def test_gold_is_deterministic_and_batched():
    scorer = get_gold_scorer("readable_sentiment")
    texts = ["I love this wonderful day.", "like like like", "", "He put the book on the table."]
    assert scorer(texts) == scorer(texts) == [scorer([t])[0] for t in texts]
    assert scorer([""]) == [-1.0]


def test_skeleton_keeps_function_words_and_names_and_abstracts_the_rest():
    assert [word_class(t) for t in tokens("The cat sat on Ambrose's mat.")][:3] == ["the", "NOUN|VERB", "VERB"]
    assert word_class("Bierce") == "<name>" and word_class("bierce") == "<unk>" and word_class(",") == ","


def test_kneser_ney_is_a_distribution_at_every_order():
    seqs = [s.split() for s in ("the cat sat on the mat", "the dog sat on the log", "a cat ran")]
    vocab = {w for s in seqs for w in s}
    for order in (1, 2, 4):
        lm = KneserNey(seqs, order)
        for history in ((), ("the", "cat"), ("sat", "on"), ("never", "seen")):
            total = sum(lm.prob(history, w) for w in vocab) + lm.prob(history, "zzz")
            assert total == pytest.approx(1.0), (order, history)
    lm = KneserNey(seqs, 3)
    assert lm.prob(("sat", "on"), "the") > lm.prob(("sat", "on"), "cat")


def test_logistic_fit_recovers_a_planted_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(x @ [2.0, -1.0] - 0.5)))).astype(float)
    w = fit_logistic(x, y, l2=0.0)
    assert w == pytest.approx([2.0, -1.0, -0.5], abs=0.2)


def test_calibration_separates_real_text_from_hard_negatives():
    model = gold_readability()
    assert model.calibration_accuracy > 0.85 and model.n_calibration > 1000


def test_runs_of_symbols_between_a_few_words_do_not_read_as_english():
    """What a small PPO policy learned first against its reward model (the quick profile): dots and tabs around a few
    words. The n-gram features read words and sentence punctuation only; the prose factor gates the rest."""
    from pipeline.readability import SYMBOL_SHARE_PROSE, prose_factor, symbol_share

    prose = "Well, I said -- and I meant it -- that we'd go; who knows?"
    assert symbol_share(prose) < SYMBOL_SHARE_PROSE and prose_factor(prose) == 1.0
    padded = "...\t..in...... his\n Britishat......."
    assert symbol_share(padded) > 0.45 and prose_factor(padded) < 0.2
    model = gold_readability()
    assert model.score(padded) < 0.2 < model.score("He checked the oil and filled the tank before the long drive.")
    # the factor falls with the share of symbols, from 1 within prose's range to 0
    shares = [prose_factor("word " * 10 + "." * n) for n in (0, 10, 20, 40, 80)]
    assert shares == sorted(shares, reverse=True) and shares[0] == 1.0 and shares[-1] == 0.0


def test_the_fitted_weights_are_cached_on_disk_and_a_damaged_cache_is_refitted(tmp_path, monkeypatch):
    """Stages load the fit instead of refitting it: the same weights, scores and calibration, and bad files are not trusted."""
    from pipeline import readability

    monkeypatch.setenv(readability.CACHE_ENV, str(tmp_path))
    fitted = readability.fit_readability()
    readability.gold_readability.cache_clear()
    try:
        first = readability.gold_readability()  # fits and writes the cache
        (path,) = tmp_path.glob("readability-*.json")
        assert path.name == f"readability-{readability.fit_fingerprint()}.json"
        readability.gold_readability.cache_clear()
        loaded = readability.gold_readability()  # from the file
        assert np.array_equal(loaded.weights, fitted.weights) and np.array_equal(first.weights, fitted.weights)
        assert (loaded.calibration_accuracy, loaded.n_calibration) == (fitted.calibration_accuracy, fitted.n_calibration)
        text = "The concert was fantastic and the orchestra played brilliantly."
        assert loaded.score(text, "Last night") == fitted.score(text, "Last night")

        path.write_text('{"weights": [1.0, 2.0', "utf-8")  # a half-written file
        readability.gold_readability.cache_clear()
        assert np.array_equal(readability.gold_readability().weights, fitted.weights)
        assert json.loads(path.read_text("utf-8"))["weights"] == fitted.weights.tolist()  # rewritten whole

        monkeypatch.setenv(readability.CACHE_ENV, "off")
        path.unlink()
        readability.gold_readability.cache_clear()
        assert np.array_equal(readability.gold_readability().weights, fitted.weights) and not any(tmp_path.iterdir())
    finally:
        readability.gold_readability.cache_clear()
