"""Registrations of the core, shaping, transform and combination terms for YAML configs.

Each term's parameters are read from the signature and ``Args:`` docstring of
the class or function that builds it (see :mod:`rewardlab.config.registry`).
"""

from __future__ import annotations

import importlib

from rewardlab.config.registry import TERMS
from rewardlab.core.function import FunctionTerm
from rewardlab.core.term import Constant, Extrinsic, RewardTerm
from rewardlab.shaping import combine, transforms
from rewardlab.shaping.potential_shaping import PotentialShaping

TERMS.add("extrinsic", Extrinsic, family="core")
TERMS.add("constant", Constant, family="core")
TERMS.add("potential", PotentialShaping, family="shaping")
TERMS.add("clip", transforms.clip, family="transform", rename={"term": "of"})
TERMS.add("normalize", transforms.normalize, family="transform", rename={"term": "of"})
TERMS.add("par", transforms.par, family="transform", rename={"term": "of"})
TERMS.add("log_sigmoid", transforms.log_sigmoid, family="transform", rename={"term": "of"})
TERMS.add("krc", combine.KRC, family="combination", rename={"terms": "of"})


@TERMS.register("function", family="core")
def function(fn: str, vectorized: bool = True) -> RewardTerm:
    """A user function given as ``'module:attribute'``; its parameter names name the transition fields it reads.

    Args:
        fn: the function's import path, ``'package.module:function'`` (the module must be importable).
        vectorized: the function takes whole batches (arrays with a leading env axis); false: one env at a time.
    """
    module_name, sep, attr = fn.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"fn must look like 'package.module:function', got {fn!r}")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import {fn!r}: {err}") from err
    return FunctionTerm(obj, vectorized=vectorized, name=attr)
