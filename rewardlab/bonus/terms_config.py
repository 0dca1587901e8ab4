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

from typing import Literal, Union

from rewardlab.bonus.counts import CountBonus
from rewardlab.bonus.keys import Key
from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm
from rewardlab.shaping.transforms import Clip, Normalize

Normalization = Literal["none", "std", "center"]


def post_process(term: RewardTerm, normalize: Normalization = "none", clip: float | None = None) -> RewardTerm:
    """Wrap ``term`` in running normalisation and/or clipping."""
    if normalize not in ("none", "std", "center"):
        raise ValueError(f"unknown normalize {normalize!r}; valid: ['none', 'std', 'center']")
    if normalize != "none":
        term = Normalize(term, center=normalize == "center")
    if clip is not None:
        if clip <= 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        term = Clip(term, -clip, clip)
    return term


@TERMS.register("count", family="bonus")
def count(
    key: Key = "obs",  # type: ignore[assignment]  (built from its config form)
    mode: Literal["global", "episodic", "product", "sum"] = "global",
    episodic: Literal["inverse_sqrt", "first_visit"] = "inverse_sqrt",
    episodic_weight: float = 1.0,
    normalize: Normalization = "none",
    clip: float | None = None,
) -> RewardTerm:
    """Count bonus on a key (grid, simhash, obs, position, message, glyphs): 1/√N, 1/√N_e or 1[N_e=1], product, sum."""
    term = CountBonus(key=key, mode=mode, episodic=episodic, episodic_weight=episodic_weight)
    return post_process(term, normalize, clip)


@TERMS.register("e3b", family="bonus")
def e3b(
    embed_dim: int = 32,
    hidden: int = 64,
    ridge: float = 0.1,
    field: str | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    normalize: Normalization = "none",
    clip: float | None = None,
) -> RewardTerm:
    """E3B elliptical episodic bonus φᵀC⁻¹φ on an inverse-dynamics embedding trained online."""
    from rewardlab.bonus.e3b import E3B

    return post_process(
        E3B(embed_dim=embed_dim, hidden=hidden, ridge=ridge, field=field, lr=lr, seed=seed), normalize, clip
    )


@TERMS.register("rnd", family="bonus")
def rnd(
    embed_dim: int = 64,
    hidden: int = 128,
    error: Literal["squared", "norm"] = "squared",
    scale: Literal["std", "ngu", "none"] = "std",
    field: str | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    clip: float | None = None,
) -> RewardTerm:
    """RND novelty ‖f̂(s') − f(s')‖² of a trained predictor vs a frozen random target, over its running std."""
    from rewardlab.bonus.rnd import RND

    term = RND(embed_dim=embed_dim, hidden=hidden, error=error, normalize=scale, field=field, lr=lr, seed=seed)
    return post_process(term, "none", clip)


@TERMS.register("noveld", family="bonus")
def noveld(
    alpha: float = 0.1,
    key: Key = "obs",  # type: ignore[assignment]
    field: str | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    normalize: Normalization = "none",
    clip: float | None = None,
) -> RewardTerm:
    """NovelD max(n(s') − α·n(s), 0)·1[N_e(s')=1] with RND novelty n."""
    from rewardlab.bonus.noveld import NovelD
    from rewardlab.bonus.rnd import RND

    term = NovelD(alpha=alpha, key=key, rnd=RND(field=field, lr=lr, seed=seed))
    return post_process(term, normalize, clip)


@TERMS.register("ngu_episodic", family="bonus")
def ngu_episodic(
    k: int = 10,
    embedding: Literal["raw", "inverse_dynamics"] = "raw",
    epsilon: float = 1e-3,
    cluster_distance: float = 8e-3,
    c: float = 1e-3,
    max_similarity: float = 8.0,
    field: str | None = None,
    embed_dim: int = 32,
    seed: int = 0,
    normalize: Normalization = "none",
    clip: float | None = None,
) -> RewardTerm:
    """NGU episodic bonus 1/(√ΣK + c) over k nearest neighbours in the episode's memory."""
    from rewardlab.bonus.ngu import NGUEpisodic

    term = NGUEpisodic(
        k=k,
        embedding=embedding,
        epsilon=epsilon,
        cluster_distance=cluster_distance,
        c=c,
        max_similarity=max_similarity,
        field=field,
        embed_dim=embed_dim,
        seed=seed,
    )
    return post_process(term, normalize, clip)


@TERMS.register("ngu", family="bonus")
def ngu(episodic: RewardTerm | None = None, lifelong: RewardTerm | None = None, max_scale: float = 5.0) -> RewardTerm:
    """NGU intrinsic reward r_episodic · min(max(α, 1), L); defaults: ngu_episodic and RND with scale 'ngu'."""
    from rewardlab.bonus.ngu import ngu as make

    return make(episodic, lifelong, max_scale=max_scale)


@TERMS.register("product", family="bonus")
def product(of: list[RewardTerm], bounds: list[Union[list[float], None]] | None = None) -> RewardTerm:
    """Product of bonuses ∏ clip(termᵢ, lowᵢ, highᵢ), e.g. global × episodic."""
    from rewardlab.bonus.combine import Product

    return Product(of, bounds=[None if b is None else tuple(b) for b in bounds] if bounds is not None else None)
