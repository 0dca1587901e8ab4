"""Learned rewards: reward networks and ensembles, rewards learned from preferences and from demonstrations.

* :mod:`rewardlab.learned.networks` -- reward ensembles over ``(s, a, s')`` with a
  differentiable torch path and a fast numpy path, output normalisation;
* :mod:`rewardlab.learned.preference` -- Bradley–Terry training on segment pairs,
  B-Pref's simulated teachers, human labelling (clips, prompt, notebook widget,
  SQLite label store), and the online ``preference`` reward term;
* :mod:`rewardlab.learned.adversarial` -- GAIL/AIRL rewards from demonstrations,
  kept Lipschitz by a gradient penalty or spectral normalisation (``adversarial`` term).

In a reward file: ``{term: preference, teacher: oracle, budget: 200}``; in Python
``rl.learned.PreferenceReward(teacher="oracle", budget=200)``.
"""

from rewardlab.learned import terms_config  # noqa: F401  (registers the YAML names)
from rewardlab.learned.networks import NumpyEnsemble, PredictionNormalizer, RewardEnsemble
from rewardlab.learned.preference import (
    HumanTeacher,
    LabelStore,
    OracleTeacher,
    PreferenceModel,
    PreferenceReward,
    bradley_terry_loss,
)

try:  # noqa: SIM105 -- the demonstration (adversarial) family, when it is merged beside this one
    from rewardlab.learned.adversarial import terms_config as _adv  # noqa: F401
except ImportError:
    pass


__all__ = [
    "HumanTeacher",
    "LabelStore",
    "NumpyEnsemble",
    "OracleTeacher",
    "PredictionNormalizer",
    "PreferenceModel",
    "PreferenceReward",
    "RewardEnsemble",
    "bradley_terry_loss",
]
