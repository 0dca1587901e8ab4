"""Exploration bonuses: counts, E3B, RND, NovelD, NGU, and the keys that counts count.

Every bonus is a :class:`~rewardlab.core.term.RewardTerm`: combine it with the
extrinsic reward (or leave the extrinsic term out for intrinsic-only
exploration)::

    reward = rl.extrinsic() + 0.1 * rl.bonus.count(rl.bonus.keys.grid(dims=["position", "velocity"], cell=0.1))
"""

from rewardlab.bonus import keys, terms_config  # noqa: F401  (terms_config registers the YAML names)
from rewardlab.bonus.counts import CountBonus, CountTable, EpisodicCountTable, count
from rewardlab.bonus.keys import Key, as_key

__all__ = ["CountBonus", "CountTable", "EpisodicCountTable", "Key", "as_key", "count", "keys"]
