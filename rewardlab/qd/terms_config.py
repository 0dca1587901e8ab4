"""YAML registration of the novelty bonus (family ``novelty``).

::

    reward:
      - extrinsic
      - {term: novelty, descriptor: "final:position,velocity", k: 15, threshold: 0.05, max_size: 10000,
         mode: step, weight: 0.1}
      - {term: novelty, descriptor: "times:position@50,100,150", mode: episode, weight: 1.0}
      - {term: novelty, descriptor: "mypkg.behaviour:reach", mode: episode}   # your own function of an episode

Descriptors: see :mod:`rewardlab.qd.descriptors`; growth, bound and eviction:
:mod:`rewardlab.qd.archive`.
"""

from __future__ import annotations

from rewardlab.config.registry import TERMS

# parameters, defaults and descriptions: NoveltyTerm's signature and docstring
TERMS.add("novelty", "rewardlab.qd.novelty:NoveltyTerm", family="novelty")
