"""The registry defines each YAML term once: parameters from a signature, descriptions from its docstring."""

from __future__ import annotations

import inspect

import pytest

import rewardlab as rl  # noqa: F401  (registers every family)
from rewardlab.config import POTENTIALS, TERMS
from rewardlab.config.registry import ConfigError, parse_args_section
from rewardlab.errors import ConfigError as BaseConfigError


def test_config_error_has_one_home_and_old_paths_work():
    from rewardlab import ConfigError as top
    from rewardlab.config import ConfigError as cfg

    assert ConfigError is BaseConfigError is top is cfg


@pytest.mark.parametrize("registry", [TERMS, POTENTIALS], ids=["terms", "potentials"])
def test_every_parameter_has_a_type_and_a_description(registry):
    missing = [
        f"{e.name}.{p.name}" for e in registry.entries() for p in e.params.values() if not p.description.strip()
    ]
    assert not missing, f"parameters without a description in an Args: docstring: {missing}"
    assert all(e.summary for e in registry.entries())


def test_term_defaults_are_the_class_defaults():
    """No copy of a signature to drift: the YAML default is the constructor's default."""
    from rewardlab.bonus.e3b import E3B
    from rewardlab.learned.preference.term import PreferenceReward
    from rewardlab.oni.term import ONITerm

    for name, cls in [("e3b", E3B), ("preference", PreferenceReward), ("oni", ONITerm), ("constant", rl.Constant)]:
        sig = inspect.signature(cls.__init__).parameters
        for key, param in TERMS.get(name).params.items():
            if key in sig:
                assert param.default == sig[key].default, (name, key)
    assert "converged" in TERMS.get("oni").params  # a class parameter the old copy had dropped


def test_renamed_and_post_processing_parameters_build():
    term = TERMS.build("rnd", {"scale": "none", "clip": 2.0, "embed_dim": 8})
    assert type(term).__name__ == "Clip" and term.inner.normalize == "none"
    count = TERMS.build("count", {"key": {"grid": {"dims": [0], "cell": [0.5]}}, "normalize": "std"})
    assert type(count).__name__ == "Normalize"
    with pytest.raises(ConfigError, match="unknown parameter 'normalise' \\(did you mean 'normalize'\\?\\)"):
        TERMS.build("count", {"normalise": "std"})
    with pytest.raises(ConfigError, match="unknown parameter 'encoder'"):
        TERMS.build("e3b", {"encoder": "mlp"})  # a torch module cannot come from YAML


def test_parse_args_section_groups_and_continuations():
    doc = """Title.

    Args:
        k: neighbours
            averaged.
        lr, seed (int): training.

    Returns:
        nothing: here.
    """
    assert parse_args_section(doc) == {"k": "neighbours averaged.", "lr": "training.", "seed": "training."}
