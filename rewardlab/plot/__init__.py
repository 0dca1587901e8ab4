"""Plots of rewards and runs; every function takes ``ax=`` and returns it."""

from rewardlab.plot.curves import plot_run_terms, term_curves

__all__ = ["plot_run_terms", "term_curves"]
