"""YAML registration of the learned rewards (family ``learned``).

::

    reward:
      - term: preference
        teacher: oracle                      # or human, or {oracle: {beta: 1.0, mistake: 0.1}}
        budget: 200                          # pairs asked over the run
        queries_per_update: 10
        segment_length: 25
        selection: disagreement              # uniform | disagreement | entropy
"""

from __future__ import annotations

from rewardlab.config.registry import TERMS

# parameters, defaults and descriptions: PreferenceReward's signature and docstring
TERMS.add("preference", "rewardlab.learned.preference.term:PreferenceReward", family="learned")
