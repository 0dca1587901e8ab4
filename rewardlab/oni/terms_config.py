"""YAML registration of the ONI term (family ``llm``).

::

    reward:
      - extrinsic
      - {term: oni, model: classification, weight: 0.1,
         annotator: {kind: llm, base_url: "http://127.0.0.1:8000/v1", model: qwen2.5-7b-instruct, goal: score}}
      - {term: oni, model: retrieval, annotator: {kind: rules, goal: gold}}   # offline, rule-based

The API key, when the server needs one, is read from ``$OPENAI_API_KEY``
(``api_key_env`` in ``annotator`` names another variable).
"""

from __future__ import annotations

from typing import Any, Literal

from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm


@TERMS.register("oni", family="llm")
def oni(
    model: Literal["retrieval", "classification", "ranking"] = "classification",
    annotator: dict[str, Any] | None = None,
    beta: float = 3.0,
    threshold: float | None = None,
    store: str | None = None,
    batch_size: int = 16,
    background: bool = True,
    pairs_per_message: int = 2,
    steps: int = 10,
    lr: float = 3e-3,
    seed: int = 0,
) -> RewardTerm:
    """ONI: r_llm(m)/N_e(m)^β on NetHack messages, r_llm distilled online from LLM (or rule) labels."""
    from rewardlab.oni.term import ONITerm

    return ONITerm(
        model=model,
        annotator=annotator or {"kind": "rules"},
        beta=beta,
        threshold=threshold,
        store=store,
        batch_size=batch_size,
        background=background,
        pairs_per_message=pairs_per_message,
        steps=steps,
        lr=lr,
        seed=seed,
    )
