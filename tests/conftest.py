"""Shared fixtures: a tiny tokenizer and GPT-2 trained here, so no test needs the network."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pipeline  # noqa: E402, F401  (pins the CPU kernels before any test computes: pipeline/__init__.py)

TINY_TEXTS = [
    "the cat sat on the mat and was happy",
    "a good day makes a happy heart",
    "bad weather ruins a picnic",
    "love and joy fill the wonderful room",
    "the terrible storm broke the old tree",
] * 20


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from pipeline.models import train_tokenizer

    return train_tokenizer(TINY_TEXTS, vocab_size=300)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """A saved random-init 2-layer GPT-2 with the tiny tokenizer (an HF directory, safetensors)."""
    import torch

    from pipeline.models import new_gpt2, save_model

    torch.manual_seed(0)
    model = new_gpt2(tiny_tokenizer, n_layer=2, n_head=2, n_embd=32, n_positions=64)
    out = tmp_path_factory.mktemp("tiny_model")
    save_model(model, tiny_tokenizer, out)
    return out


@pytest.fixture
def tiny_reward_args(tmp_path):
    """RewardConfig of the reward-trainer tests: 3 epochs at a high learning rate, CPU, no saving or reporting."""
    from trl import RewardConfig

    return RewardConfig(
        output_dir=str(tmp_path),
        num_train_epochs=3,
        learning_rate=3e-3,
        per_device_train_batch_size=16,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        max_length=None,
        logging_steps=100,
        seed=0,
    )
