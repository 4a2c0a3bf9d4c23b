"""Hugging Face `evaluate` wrapper of rlhf-bench's diversity metrics (distinct-n, EAD, self-BLEU).

    import evaluate
    diversity = evaluate.load("path/to/metrics/evaluate_modules/diversity")
    diversity.compute(predictions=texts)                                     # one set
    diversity.compute(predictions=texts, groups=prompt_ids)                  # per input, averaged
    diversity.compute(predictions=texts, token_ids=ids, vocab_size=50257)    # on tokenizer ids, with EAD

diversity_core.py is a symlink to metrics/diversity.py: `evaluate` copies a
script and its relative imports into its module cache, so the code has to
travel with the script rather than be imported from the project.
"""

import datasets
import evaluate
import numpy as np

from .diversity_core import distinct_n, ead, self_bleu

_CITATION = """\
@inproceedings{li2016diversity, title={A Diversity-Promoting Objective Function for Neural Conversation Models}, author={Li, Jiwei and others}, booktitle={NAACL}, year={2016}}
@inproceedings{liu2022rethinking, title={Rethinking and Refining the Distinct Metric}, author={Liu, Siyang and others}, booktitle={ACL}, year={2022}}
@article{kirk2023understanding, title={Understanding the Effects of RLHF on LLM Generalisation and Diversity}, author={Kirk, Robert and others}, journal={arXiv:2310.06452}, year={2023}}
"""

_DESCRIPTION = """\
Diversity of a set of generations: distinct-n (unique / total n-grams, n = 1, 2, 3),
EAD (expectation-adjusted distinct unigrams, needs vocab_size) and self-BLEU (mean
sacrebleu sentence BLEU of each text against the others, in [0, 1], lower = more diverse).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the generations.
    token_ids (list of list of int, optional): token ids of each generation for distinct-n and
        EAD; default: the whitespace-separated words of the predictions.
    vocab_size (int, optional): vocabulary size V for EAD; without it EAD is not returned.
    groups (list, optional): an input id per prediction; metrics are then computed within each
        group (per-input diversity) and averaged over groups.
Returns:
    distinct_1, distinct_2, distinct_3, self_bleu, and ead when vocab_size is given.
Examples:
    >>> diversity = evaluate.load("metrics/evaluate_modules/diversity")
    >>> diversity.compute(predictions=["a b c", "a b d"])["distinct_1"]
    0.6666666666666666
"""


def _set_scores(texts, tokens, vocab_size):
    scores = {f"distinct_{n}": distinct_n(tokens, n) for n in (1, 2, 3)}
    scores["self_bleu"] = self_bleu(texts)
    if vocab_size is not None:
        scores["ead"] = ead(tokens, vocab_size)
    return scores


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Diversity(evaluate.Metric):
    """distinct-n, EAD and self-BLEU of a set (or of each group) of predictions."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions, token_ids=None, vocab_size=None, groups=None):
        tokens = [list(t) for t in token_ids] if token_ids is not None else [p.split() for p in predictions]
        if len(tokens) != len(predictions):
            raise ValueError(f"{len(tokens)} token_ids for {len(predictions)} predictions")
        if groups is None:
            return _set_scores(list(predictions), tokens, vocab_size)
        members = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        per_group = [_set_scores([predictions[i] for i in idx], [tokens[i] for i in idx], vocab_size) for idx in members.values()]
        return {key: float(np.mean([s[key] for s in per_group])) for key in per_group[0]}
