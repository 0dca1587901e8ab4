"""Look at a reward before spending compute on it: landscapes, decompositions, distances.

* :func:`landscape` -- a reward's components on a grid of states;
  :func:`position_map` -- per-position values on a NetHack-sized map;
* :func:`rollout` -- a policy's steps with every component recorded;
  :func:`episode_terms`, :func:`term_shares`, :func:`learning_curves` -- decompositions;
* :func:`epic_distance`, :func:`starc_distance`, :func:`erc_distance` and
  :func:`distance_matrix` -- how different two rewards really are, with
  bootstrap intervals; :mod:`~rewardlab.analysis.tabular` computes them exactly on small MDPs.

Plots of all of these live in :mod:`rewardlab.plot`.
"""

from rewardlab.analysis import tabular
from rewardlab.analysis.canonical import epic_canonicalize
from rewardlab.analysis.compare import distance_matrix
from rewardlab.analysis.decomposition import (
    episode_terms,
    learning_curves,
    read_reward_terms,
    term_columns,
    term_shares,
)
from rewardlab.analysis.distances import Distance, DistanceMatrix, pearson_distance, starc_norm_distance
from rewardlab.analysis.env_rewards import ENV_REWARDS, env_reward_model
from rewardlab.analysis.epic import epic_distance, epic_matrix
from rewardlab.analysis.erc import episode_returns, erc_distance, erc_matrix
from rewardlab.analysis.evaluation import RewardEvaluator, frozen
from rewardlab.analysis.landscape import Landscape, landscape, position_map
from rewardlab.analysis.rollout import Rollout, load_run_model, rollout
from rewardlab.analysis.sampling import Coverage, sample_space, space_transitions
from rewardlab.analysis.starc import starc_distance, starc_matrix

__all__ = [
    "ENV_REWARDS",
    "Coverage",
    "Distance",
    "DistanceMatrix",
    "Landscape",
    "RewardEvaluator",
    "Rollout",
    "distance_matrix",
    "env_reward_model",
    "epic_canonicalize",
    "epic_distance",
    "epic_matrix",
    "episode_returns",
    "episode_terms",
    "erc_distance",
    "erc_matrix",
    "frozen",
    "landscape",
    "learning_curves",
    "load_run_model",
    "pearson_distance",
    "position_map",
    "read_reward_terms",
    "rollout",
    "sample_space",
    "space_transitions",
    "starc_distance",
    "starc_matrix",
    "starc_norm_distance",
    "tabular",
    "term_columns",
    "term_shares",
]
