"""Curiosity-scored parent selection (Cully & Demiris 2018): the credit rule, the draw, the first batch."""

from __future__ import annotations

import numpy as np
import pytest
from ribs.archives import GridArchive
from ribs.emitters import GaussianEmitter

from rewardlab.qd.emitters import CuriosityEmitter


def filled_archive() -> GridArchive:
    """Four cells of a 1-d grid filled, elite solution = (cell, cell)."""
    archive = GridArchive(solution_dim=2, dims=[4], ranges=[(0.0, 1.0)], seed=0)
    archive.add(np.repeat(np.arange(4.0)[:, None], 2, axis=1), np.zeros(4), np.array([[0.1], [0.3], [0.6], [0.9]]))
    return archive


def test_first_batch_is_pyribs_gaussian_emitters_and_parents_get_plus_one_or_minus_half():
    empty = GridArchive(solution_dim=2, dims=[4], ranges=[(0.0, 1.0)], seed=0)
    ours = CuriosityEmitter(empty, sigma=0.3, x0=np.ones(2), batch_size=5, seed=7).ask()
    pyribs = GaussianEmitter(empty, sigma=0.3, x0=np.ones(2), batch_size=5, seed=7).ask()
    np.testing.assert_array_equal(ours, pyribs)

    archive = filled_archive()
    emitter = CuriosityEmitter(archive, sigma=0.01, x0=np.zeros(2), batch_size=6, seed=1)
    offspring = emitter.ask()
    parents = emitter._parents.copy()
    # each offspring is its parent's elite (cell, cell) plus a small step
    np.testing.assert_allclose(offspring, np.repeat(parents[:, None].astype(float), 2, axis=1), atol=0.1)
    status = np.array([2, 1, 0, 0, 2, 0])
    emitter.tell(offspring, np.zeros(6), np.zeros((6, 1)), {"status": status})
    expected = np.zeros(4)
    np.add.at(expected, parents, np.where(status > 0, 1.0, -0.5))
    np.testing.assert_array_equal(emitter.curiosity, expected)


def test_parents_are_drawn_in_proportion_to_curiosity_minus_the_lowest_plus_one():
    archive = filled_archive()
    emitter = CuriosityEmitter(archive, sigma=0.01, x0=np.zeros(2), batch_size=20_000, seed=0)
    emitter.curiosity[:] = [5.0, -1.0, -1.0, 1.0]  # weights 7, 1, 1, 3 over 12
    emitter.ask()
    share = np.bincount(emitter._parents, minlength=4) / 20_000
    np.testing.assert_allclose(share, [7 / 12, 1 / 12, 1 / 12, 3 / 12], atol=0.01)
    emitter.curiosity[:] = 0.0  # equal scores: uniform, as plain MAP-Elites
    emitter.ask()
    np.testing.assert_allclose(np.bincount(emitter._parents, minlength=4) / 20_000, 0.25, atol=0.01)


def test_line_step_moves_along_the_line_between_two_elites_and_bad_scales_are_refused():
    archive = filled_archive()
    emitter = CuriosityEmitter(archive, sigma=1e-9, line_sigma=0.5, x0=np.zeros(2), batch_size=50, seed=3)
    offspring = emitter.ask()
    # both elites lie on the diagonal (c, c), so with no isotropic step the offspring stay on it, off the elites
    np.testing.assert_allclose(offspring[:, 0], offspring[:, 1], atol=1e-6)
    assert not np.isin(offspring[:, 0].round(6), np.arange(4.0)).all()
    with pytest.raises(ValueError, match="sigma must be > 0"):
        CuriosityEmitter(archive, sigma=0.0, x0=np.zeros(2), batch_size=1)
