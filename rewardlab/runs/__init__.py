"""Run folders: reward state saved with every run, checkpoints and resume, loading a run back, evaluation.

* :func:`load_run` -- config, SB3 model, trained reward (state restored) and ``VecNormalize`` statistics;
* :func:`save_reward_state` / :func:`load_reward_state` -- the versioned ``reward_state.pt``;
* :func:`evaluate_run` -- deterministic episodes with every term and the true return, and a video;
* :mod:`rewardlab.runs.folder` (layout, status), :mod:`rewardlab.runs.checkpoint` (checkpoints).
"""

from rewardlab.runs.evaluate import Evaluation, evaluate_run
from rewardlab.runs.load import Run, load_run
from rewardlab.runs.reward_state import (
    REWARD_STATE_FILE,
    RewardStateError,
    load_reward_state,
    read_reward_state,
    save_reward_state,
)

__all__ = [
    "REWARD_STATE_FILE",
    "Evaluation",
    "Run",
    "RewardStateError",
    "evaluate_run",
    "load_reward_state",
    "load_run",
    "read_reward_state",
    "save_reward_state",
]
