"""Plots of rewards and runs; every function takes ``ax=`` and returns it."""

from rewardlab.plot.curves import plot_run_terms, term_curves
from rewardlab.plot.decomposition import episode_term_panels, episode_terms, learning_curves, term_shares
from rewardlab.plot.distances import distance_matrix
from rewardlab.plot.frames import reward_along_frames
from rewardlab.plot.landscape import draw_landscape, landscape, landscapes, nethack_map
from rewardlab.plot.visits import visit_map

__all__ = [
    "distance_matrix",
    "draw_landscape",
    "episode_term_panels",
    "episode_terms",
    "landscape",
    "landscapes",
    "learning_curves",
    "nethack_map",
    "plot_run_terms",
    "reward_along_frames",
    "term_curves",
    "term_shares",
    "visit_map",
]
