"""YAML registrations of the exploration bonuses (family ``bonus``).

Count, E3B, NovelD and NGU episodic take the same optional post-processing,
so configs can write::

    - {term: count, key: {grid: {dims: [position, velocity], cell: [0.1, 0.01]}}, mode: episodic, weight: 0.1}
    - {term: e3b, normalize: std, clip: 5}

``normalize`` divides by a running std (``"std"``) or centres first
(``"center"``), ``clip`` bounds the result to ``[-clip, clip]``; both reuse
:mod:`rewardlab.shaping.transforms`. RND has its own ``scale`` (it divides by
the std of its error by default) and takes ``clip``.
"""

from __future__ import annotations

from typing import Literal

from rewardlab.bonus.keys import KeySpec
from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm
from rewardlab.shaping.transforms import Clip, Normalize

Normalization = Literal["none", "std", "center"]


def post_process(term: RewardTerm, normalize: Normalization = "none", clip: float | None = None) -> RewardTerm:
    """Wrap ``term`` in running normalisation and/or clipping.

    Args:
        normalize: ``"std"`` divides the bonus by its running std, ``"center"`` centres it first, ``"none"`` leaves it.
        clip: bound the bonus to ``[-clip, clip]`` after normalising (``None``: no clipping).
    """
    if normalize not in ("none", "std", "center"):
        raise ValueError(f"unknown normalize {normalize!r}; valid: ['none', 'std', 'center']")
    if normalize != "none":
        term = Normalize(term, center=normalize == "center")
    if clip is not None:
        if clip <= 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        term = Clip(term, -clip, clip)
    return term


def clip_option(term: RewardTerm, clip: float | None = None) -> RewardTerm:
    """Bound ``term`` to ``[-clip, clip]``.

    Args:
        clip: bound the bonus to ``[-clip, clip]`` (``None``: no clipping).
    """
    return post_process(term, "none", clip)


TERMS.add("count", "rewardlab.bonus.counts:CountBonus", family="bonus", post=post_process)
TERMS.add("e3b", "rewardlab.bonus.e3b:E3B", family="bonus", exclude=["encoder"], post=post_process)
TERMS.add("rnd", "rewardlab.bonus.rnd:RND", family="bonus", rename={"normalize": "scale"}, post=clip_option)
TERMS.add("ngu_episodic", "rewardlab.bonus.ngu:NGUEpisodic", family="bonus", exclude=["encoder"], post=post_process)
TERMS.add("ngu", "rewardlab.bonus.ngu:ngu", family="bonus")
TERMS.add("product", "rewardlab.bonus.combine:Product", family="bonus", rename={"terms": "of"})


def noveld(
    *, alpha: float = 0.1, key: KeySpec = "obs", field: str | None = None, lr: float = 1e-3, seed: int = 0
) -> RewardTerm:
    """NovelD ``max(n(s') − α·n(s), 0)·1[N_e(s')=1]`` with RND novelty ``n`` (Zhang et al. 2021).

    Args:
        alpha: α, how much more novel ``s'`` must be than ``s`` (0.1 in the paper).
        key: key of the episodic first-visit indicator (``"obs"``, or a grid / SimHash key for continuous states).
        field: dict-observation field RND reads.
        lr: RND predictor learning rate.
        seed: RND initialisation.
    """
    from rewardlab.bonus.noveld import NovelD
    from rewardlab.bonus.rnd import RND

    return NovelD(alpha=alpha, key=key, rnd=RND(field=field, lr=lr, seed=seed))


TERMS.add("noveld", noveld, family="bonus", post=post_process)
