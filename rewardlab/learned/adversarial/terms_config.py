"""YAML registration of the adversarial rewards from demonstrations (family ``learned``).

::

    reward:
      - {term: adversarial, demos: runs/expert/demos.npz, kind: gail, lipschitz: gp}
      - {term: adversarial, demos: demos.npz, kind: airl, lipschitz: spectral, inputs: s}
      - {term: adversarial, demos: runs/expert, demo_episodes: 20}      # rolled out from a trained run

Write the demonstrations with ``rewardlab demos collect RUN --episodes 20 --out demos.npz``.
"""

from __future__ import annotations

from rewardlab.config.registry import TERMS

# parameters, defaults and descriptions: AdversarialReward's signature and docstring
TERMS.add("adversarial", "rewardlab.learned.adversarial.term:AdversarialReward", family="learned")
