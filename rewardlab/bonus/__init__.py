"""Exploration bonuses: counts, E3B, RND, NovelD, NGU, and the keys that counts count.

Every bonus is a :class:`~rewardlab.core.term.RewardTerm`: add it to the
extrinsic reward, or leave the extrinsic term out for intrinsic-only
exploration::

    key = rl.bonus.keys.GridKey(dims=["position", "velocity"], cell=[0.1, 0.01])
    reward = rl.extrinsic() + 0.1 * rl.bonus.count(key, mode="global")

Learned bonuses (E3B, RND, NovelD, NGU with an inverse-dynamics embedding)
train in ``update()``, which :class:`~rewardlab.wrappers.RewardVecWrapper`
calls every ``update_every`` steps; torch loads only when one is built.
"""

from rewardlab.bonus import keys, terms_config  # noqa: F401  (terms_config registers the YAML names)
from rewardlab.bonus.combine import Product, product
from rewardlab.bonus.counts import CountBonus, CountTable, EpisodicCountTable, count
from rewardlab.bonus.e3b import E3B, e3b
from rewardlab.bonus.keys import Key, as_key
from rewardlab.bonus.ngu import NGUEpisodic, ngu, ngu_episodic
from rewardlab.bonus.noveld import NovelD, noveld
from rewardlab.bonus.rnd import RND, rnd

__all__ = [
    "E3B",
    "NGUEpisodic",
    "RND",
    "CountBonus",
    "CountTable",
    "EpisodicCountTable",
    "Key",
    "NovelD",
    "Product",
    "as_key",
    "count",
    "e3b",
    "keys",
    "ngu",
    "ngu_episodic",
    "noveld",
    "product",
    "rnd",
]
