"""Hugging Face `evaluate` wrapper of rlhf-bench's proxy-gold reward gap and correlations.

    import evaluate
    gap = evaluate.load("path/to/metrics/evaluate_modules/reward_gap")
    gap.compute(predictions=proxy_reward_norm, references=gold_reward)

reward_model_core.py is a symlink to metrics/reward_model.py: `evaluate` copies
a script and its relative imports into its module cache, so the code has to
travel with the script rather than be imported from the project.
"""

import datasets
import evaluate
import numpy as np

from .reward_model_core import correlations

_CITATION = """\
@inproceedings{gao2023scaling, title={Scaling Laws for Reward Model Overoptimization}, author={Gao, Leo and Schulman, John and Hilton, Jacob}, booktitle={ICML}, year={2023}}
"""

_DESCRIPTION = """\
How far a proxy reward model's scores sit from the gold scores of the same responses:
proxy_gold_gap = mean(proxy - gold) (the proxy should be normalised to the gold scale; a
growing positive gap is reward over-optimisation), plus the Pearson and Spearman
correlations of proxy and gold, and constant_output when the proxy gives one score to all.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of float): proxy rewards (normalised), one per response.
    references (list of float): gold rewards of the same responses.
Returns:
    proxy_gold_gap (lower is better), pearson, spearman (nan for constant input), constant_output (bool).
Examples:
    >>> gap = evaluate.load("metrics/evaluate_modules/reward_gap")
    >>> gap.compute(predictions=[1.0, 2.0, 3.0], references=[0.5, 1.5, 2.0])["proxy_gold_gap"]
    0.6666666666666666
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RewardGap(evaluate.Metric):
    """Mean proxy - gold reward and their correlations."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
        )

    def _compute(self, predictions, references):
        proxy, gold = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
        gap = float(np.mean(proxy - gold)) if proxy.size else float("nan")
        return {"proxy_gold_gap": gap, **correlations(proxy, gold)}
