"""An independent judge: SmolLM2-135M log-likelihood fluency with the same sentiment (gold `smollm2_sentiment`).

A real language model, trained on none of this project's text, checks the default gold
(`readable_sentiment`): bench/gold_agreement.py ranks policy samples with both. Too slow for every
gold call of a CPU run (about 20 texts/s on 2 cores), fine as the gold of a GPU profile
(`annotator.gold: smollm2_sentiment`, after `make smollm2`).

Fluency is per *word*, not per token (rare words split into many tokens would make salad look
fluent per token), and SLOR: each word's log-probability after the prompt and the words before it,
minus its log-probability with no context, so salad of frequent function words gets no credit for
being frequent. A logistic model fitted on held-out real fortune snippets against the same
snippets shuffled maps the mean to [0, 1]; the gold is quality * (1 + sentiment) - 1 as for
readable_sentiment, with VADER sentiment and the same repetition factor. Its parts also carry a check on
the check, `fluency_logprob` / `gold_logprob`: the mean per-token log-probability of the response, calibrated the same
way (bench/gold_agreement.py reports both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

BATCH = 32
SLOR_CLIP = (-10.0, 10.0)


@dataclass
class LMJudge:
    model: object
    tokenizer: object
    slope: float = 1.0
    intercept: float = 0.0
    lp_slope: float = 1.0
    lp_intercept: float = 0.0
    _unigram: dict = field(default_factory=dict)

    @torch.no_grad()
    def _sequence_logprobs(self, sequences: list[list[int]]) -> list[list[float]]:
        """log p of every token after the first, right-padded batches (rotary positions start at 0 on the left)."""
        out = []
        for i in range(0, len(sequences), BATCH):
            batch = sequences[i : i + BATCH]
            width = max(len(s) for s in batch)
            ids = torch.tensor([s + [0] * (width - len(s)) for s in batch])
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in batch])
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
            out += [logp[j, : len(s) - 1].tolist() for j, s in enumerate(batch)]
        return out

    def _start(self) -> list[int]:
        tok = self.tokenizer
        return [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]

    def _word_ids(self, word: str) -> list[int]:
        return self.tokenizer(" " + word, add_special_tokens=False)["input_ids"]

    def unconditional(self, words: list[str]) -> dict[str, float]:
        """log p(word) with no context, batched and cached across calls."""
        missing = sorted(set(words) - self._unigram.keys())
        logps = self._sequence_logprobs([self._start() + self._word_ids(w) for w in missing])
        self._unigram.update({w: sum(lp) for w, lp in zip(missing, logps, strict=True)})
        return self._unigram

    def scores(self, texts: list[str], prompts: list[str]) -> list[tuple[float, float] | None]:
        """(mean per-word SLOR, mean per-token log-probability) of each response after its prompt, from one forward
        pass; None for a response with no words."""
        seqs, spans = [], []
        for text, prompt in zip(texts, prompts, strict=True):
            ids = self._start() + (self.tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else [])
            words, bounds = text.split(), []
            for w in words:
                start = len(ids)
                ids += self._word_ids(w)
                bounds.append((start, len(ids), w))
            seqs.append(ids)
            spans.append(bounds)
        logps = self._sequence_logprobs(seqs)
        unigram = self.unconditional([w for bounds in spans for _, _, w in bounds])
        out: list[tuple[float, float] | None] = []
        for lp, bounds in zip(logps, spans, strict=True):
            if not bounds:
                out.append(None)
                continue
            per_word = [sum(lp[a - 1 : b - 1]) - unigram[w] for a, b, w in bounds]
            response = lp[bounds[0][0] - 1 : bounds[-1][1] - 1]
            out.append((float(np.mean(np.clip(per_word, *SLOR_CLIP))), float(np.mean(response))))
        return out

    def slor(self, texts: list[str], prompts: list[str]) -> list[float | None]:
        """Mean per-word SLOR of each response after its prompt; None for a response with no words."""
        return [None if s is None else s[0] for s in self.scores(texts, prompts)]

    def fluencies(self, texts: list[str], prompts: list[str]) -> list[tuple[float, float]]:
        """(SLOR fluency, log-probability fluency) per text, each mapped to [0, 1] by its own calibration; 0 with no
        words. The second is a check on the first, with the opposite bias: SLOR credits a word for what its context
        adds to it, so rare and invented words can earn much; the plain per-token log-probability credits whatever is
        predictable, repetition and the later pieces of a split word included (bench/gold_agreement.py reports both)."""

        def squash(x: float, slope: float, intercept: float) -> float:
            return 1 / (1 + math.exp(-max(-50.0, min(50.0, slope * x + intercept))))

        return [
            (0.0, 0.0)
            if s is None
            else (squash(s[0], self.slope, self.intercept), squash(s[1], self.lp_slope, self.lp_intercept))
            for s in self.scores(texts, prompts)
        ]

    def fluency(self, texts: list[str], prompts: list[str]) -> list[float]:
        return [f for f, _ in self.fluencies(texts, prompts)]


@cache
def smollm2_judge() -> LMJudge:
    """SmolLM2-135M (the packaged GGUF, dequantised, fp32 on CPU), calibrated on real vs shuffled fortune snippets."""
    from pipeline.fluency import fit_logistic, shuffled_snippet
    from pipeline.models import fetch_pretrained
    from pipeline.readability import gold_entries

    model, tokenizer = fetch_pretrained("smollm2-135m")
    judge = LMJudge(model.float().eval(), tokenizer)
    _, calibration = gold_entries()
    rng = np.random.default_rng(0)
    pairs = [shuffled_snippet(e, rng) for e in calibration[:240]]
    real, shuffled = zip(*(p for p in pairs if len(p[0].split()) >= 8), strict=True)
    x = np.array(judge.scores(list(real + shuffled), [""] * (2 * len(real))), dtype=float)
    y = np.array([1.0] * len(real) + [0.0] * len(shuffled))
    judge.slope, judge.intercept = fit_logistic(x[:, 0], y)
    judge.lp_slope, judge.lp_intercept = fit_logistic(x[:, 1], y)
    return judge


def smollm2_components(texts: list[str], prompts: list[str] | None = None) -> list[dict]:
    from pipeline.fluency import distinct_word_share
    from pipeline.gold import fluent_sentiment_score, repetition_factor, vader

    prompts = prompts or [""] * len(texts)
    out = []
    for text, (f, f_lp), s in zip(texts, smollm2_judge().fluencies(texts, prompts), vader(texts), strict=True):
        share = distinct_word_share(text)
        out.append(
            {
                "sentiment": s,
                "fluency": f,
                "repetition": repetition_factor(share),
                "gold": fluent_sentiment_score(s, f, share),
                "fluency_logprob": f_lp,
                "gold_logprob": fluent_sentiment_score(s, f_lp, share),
            }
        )
    return out
