"""The gold scorers: the probe ordering a human would give, determinism, the registry, the fluency model's parts."""

import math

import numpy as np
import pytest

from pipeline.fluency import KneserNeyTrigram, distinct_word_share, fit_logistic, gold_fluency_model, words
from pipeline.gold import (
    GOLD_PROBES,
    GOLD_SCORERS,
    add_gold_scores,
    fluent_sentiment_score,
    get_gold_scorer,
    probe_order_holds,
    probe_scores,
    register,
)


def test_vader_alone_fails_the_probe_set():
    """The reason for the new default: VADER ranks positive-word salad above fluent neutral text."""
    assert not probe_order_holds(probe_scores(get_gold_scorer("vader")))


def test_probe_order_check_catches_each_violation():
    from tests.test_readability import KNOWN_FAILURES

    scores = probe_scores(get_gold_scorer("readable_sentiment"))
    good = [s for s in scores if s["name"] not in KNOWN_FAILURES and s["kind"] != "fluent_positive"]
    good += [max((s for s in scores if s["kind"] == "fluent_positive"), key=lambda s: s["gold"])]
    assert probe_order_holds(good)
    for kind, value in (("degenerate", 0.99), ("fluent_negative", 0.99), ("fluent_neutral", 0.99)):
        broken = [dict(s) for s in good]
        next(s for s in broken if s["kind"] == kind)["gold"] = value
        assert not probe_order_holds(broken), kind


def test_gold_is_deterministic_and_batched():
    scorer = get_gold_scorer("fluent_sentiment")
    texts = [t for _, _, t in GOLD_PROBES]
    assert scorer(texts) == scorer(texts) == [scorer([t])[0] for t in texts]
    assert scorer([""]) == [-1.0]  # no words: no fluency


def test_score_combines_sentiment_fluency_and_repetition():
    assert fluent_sentiment_score(0.8, 1.0, 1.0) == pytest.approx(0.8)  # fluent text scores its sentiment
    assert fluent_sentiment_score(1.0, 0.0, 1.0) == -1.0  # unreadable: sentiment does not count
    assert fluent_sentiment_score(1.0, 1.0, 0.3) == -1.0  # heavily repeated: the same
    assert fluent_sentiment_score(0.0, 0.5, 1.0) == pytest.approx(-0.5)


def test_kneser_ney_is_a_distribution_and_prefers_seen_continuations():
    lm = KneserNeyTrigram(["the cat sat on the mat", "the dog sat on the log", "a cat ran"])
    vocab = {w for t in ["the cat sat on the mat", "the dog sat on the log", "a cat ran"] for w in words(t)}
    for context in (("<s>", "<s>"), ("the", "cat"), ("sat", "on"), ("never", "seen")):
        total = sum(lm.prob(*context, w) for w in vocab) + lm.prob(*context, "zzz")  # "zzz": the one unknown-word slot
        assert total == pytest.approx(1.0), context
    assert lm.prob("sat", "on", "the") > lm.prob("sat", "on", "cat")
    assert lm.coherence("the cat sat on the mat") > lm.coherence("mat the on sat cat the")
    assert lm.coherence("!!!") is None


def test_fluency_model_separates_real_from_shuffled_text():
    model = gold_fluency_model()
    assert model.slope > 0 and model.calibration_accuracy > 0.85
    assert model.fluency("He put the book on the table and walked out of the room.") > 0.9
    assert model.fluency("room the of book walked out table put the on and he") < 0.2


def test_logistic_fit_recovers_a_planted_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2.0 * x - 0.5)))).astype(float)
    slope, intercept = fit_logistic(x, y)
    assert slope == pytest.approx(2.0, abs=0.2) and intercept == pytest.approx(-0.5, abs=0.15)


def test_distinct_word_share():
    assert distinct_word_share("like like like like") == 0.25
    assert distinct_word_share("") == 1.0


def test_add_gold_scores_standardises_with_base_statistics():
    records = [{"response": "I love this wonderful day."}, {"response": "like like like like"}]
    add_gold_scores(records, get_gold_scorer("fluent_sentiment"), {"gold_mean": -0.5, "gold_std": 0.25})
    for r in records:
        assert r["gold_reward_norm"] == pytest.approx((r["gold_reward"] + 0.5) / 0.25)
    assert not math.isclose(records[0]["gold_reward"], records[1]["gold_reward"])


def test_registry_refuses_a_duplicate_name():
    with pytest.raises(ValueError, match="already registered"):
        register("vader")(lambda texts: [0.0] * len(texts))
    assert "fluent_sentiment" in GOLD_SCORERS


def test_a_gold_plugin_loads_by_module_and_function_and_bad_specs_are_one_line_errors():
    from pipeline.errors import ConfigError

    plugin = get_gold_scorer("tests.test_gold:_length_gold")
    assert plugin(["a b", "a b c d"]) == [0.5, 1.0]
    for spec, why in (
        ("no_such_module_xyz:f", "ModuleNotFoundError"),
        ("tests.test_gold:missing", "AttributeError"),
        ("tests.test_gold:NOT_CALLABLE", "not callable"),
        ("nope", "choose from"),
    ):
        with pytest.raises(ConfigError, match=f"annotator.gold: .*{why}"):
            get_gold_scorer(spec)


NOT_CALLABLE = 3


def _length_gold(texts: list[str]) -> list[float]:
    return [min(len(t.split()) / 4, 1.0) for t in texts]


# ---------------------------------------------------------------- issue 26: what a plug-in returns
def _int_gold(texts):
    return [1 if "good" in t else -1 for t in texts]


def _numpy_gold(texts):
    import numpy as np

    return np.array([0.25, -0.5, 1.0], dtype=np.float32)[: len(texts)]


def _numpy_scalars_gold(texts):
    import numpy as np

    return [np.int64(0), np.float64(0.5)][: len(texts)]


def _short_gold(texts):
    return [0.0]


def _nan_gold(texts):
    return [float("nan")] * len(texts)


def _large_gold(texts):
    return [3.0] * len(texts)


def _text_gold(texts):
    return ["good"] * len(texts)


def _bool_gold(texts):
    return [True] * len(texts)


def _scalar_gold(texts):
    return 0.5


def _prompt_gold(texts, prompts=None):
    return [0.5 if p else 0.0 for p in prompts]


_prompt_gold.reads_prompts = True


@pytest.mark.parametrize(
    "name, expected",
    [("_int_gold", [1.0, -1.0]), ("_numpy_gold", [0.25, -0.5]), ("_numpy_scalars_gold", [0.0, 0.5])],
)
def test_a_gold_plugin_returning_ints_or_numpy_gives_floats(name, expected):
    scores = get_gold_scorer(f"tests.test_gold:{name}")(["good text", "bad text"])
    assert scores == expected and all(type(s) is float for s in scores)


@pytest.mark.parametrize(
    "name, problem",
    [
        ("_short_gold", "returned 1 scores for 2 texts"),
        ("_nan_gold", "returned nan at index 0"),
        ("_large_gold", "returned 3.0 at index 0"),
        ("_text_gold", "returned 'good' (str) at index 0, not a number"),
        ("_bool_gold", "returned True (bool) at index 0, not a number"),
        ("_scalar_gold", "returned a float, not a list"),
    ],
)
def test_a_gold_plugin_returning_bad_scores_is_a_one_line_error(name, problem):
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        get_gold_scorer(f"tests.test_gold:{name}")(["a", "b"])
    assert str(exc.value) == (
        f"annotator.gold: plug-in 'tests.test_gold:{name}' {problem}; it must return one number in [-1, 1] per text"
    )


def test_a_checked_plugin_keeps_reading_prompts():
    scorer = get_gold_scorer("tests.test_gold:_prompt_gold")  # the wrapper passes prompts on and keeps the flag
    assert scorer.reads_prompts and scorer(["a", "b"], prompts=["p", ""]) == [0.5, 0.0]
