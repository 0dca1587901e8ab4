"""Novelty search and quality-diversity: behaviour descriptors, a novelty reward term, QD search with pyribs.

* :mod:`~rewardlab.qd.descriptors` -- what a rollout did, as a vector in ``[0, 1]^m``
  (final state, positions at fixed times, visitation histograms, (min, max) over the episode, a learned
  autoencoder code, or your own function of an episode);
* :class:`NoveltyTerm` -- ``(1/k)·Σ‖x − μᵢ‖`` over an archive grown by threshold, per step
  or at the end of each episode, for any SB3 agent (YAML: ``{term: novelty, ...}``);
* :mod:`~rewardlab.qd.search` -- novelty search, MAP-Elites, CMA-ME, CMA-MAE and a SERENE-style
  alternation over small policy networks with ``ribs`` archives and emitters (``rewardlab qd``;
  needs the ``qd`` extra), evaluated in batches (:mod:`~rewardlab.qd.policies`: many policies
  stepping together, each evaluation from its own start), locally or on Ray.
"""

from rewardlab.qd import search, terms_config  # noqa: F401  (terms_config registers the YAML name)
from rewardlab.qd.archive import NoveltyArchive
from rewardlab.qd.descriptors import Descriptor, parse_descriptor
from rewardlab.qd.novelty import NoveltyTerm, novelty

__all__ = ["Descriptor", "NoveltyArchive", "NoveltyTerm", "novelty", "parse_descriptor", "search"]
