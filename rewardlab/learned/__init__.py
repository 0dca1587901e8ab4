"""Learned rewards: from preferences and from demonstrations (adversarial, Lipschitz-regularised).

Importing this package registers the YAML terms of its sub-families.
"""

import contextlib

with contextlib.suppress(ImportError):  # the adversarial family (its torch parts load when a term is built)
    from rewardlab.learned.adversarial import terms_config as _adversarial  # noqa: F401
