"""Stage validate: check the whole params.yaml before any other stage runs (and before DVC deletes any output).

    python -m stages.validate
DVC removes a stage's outputs right before running it, so a bad key caught by the stage itself (say
`dvc exp run -S ppo.kl_coef=0.05`, whose real key is curves.ppo_kl_coef) used to cost that stage's git-tracked results.
This stage depends on every key of params.yaml and everything runs after it (prepare depends on its output), so
a bad value stops the pipeline here with one line naming the key, while every other output is still in place.
Its output is a constant marker kept between runs (`persist`), so a valid change reruns only the stages that read it.
"""

from __future__ import annotations

from pipeline.config import load_params
from pipeline.io import write_json
from pipeline.stage import run_stage

MARKER = "results/validate/params_ok.json"


def main() -> None:
    load_params()
    write_json(MARKER, {"params.yaml": "valid"})


if __name__ == "__main__":
    run_stage(main)
