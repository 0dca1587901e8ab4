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


def with_llm_server(spec: Any, *, base_url: str | None = None, model: str | None = None) -> Any:
    """``spec`` with every ONI term's annotator pointed at an LLM server (``rewardlab train --llm-url/--llm-model``).

    A rule-based annotator becomes an LLM one (its goal kept); other settings of an LLM annotator stay.
    Raises ``ConfigError`` when the reward has no ONI term.
    """
    from rewardlab.config.registry import ConfigError

    found = 0

    def term(node: Any) -> Any:  # a bare name in a list of terms is the term with its defaults
        return {"term": "oni"} if node == "oni" else node

    def walk(node: Any) -> Any:
        nonlocal found
        if isinstance(node, list):
            return [walk(term(x)) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        if out.get("term") == "oni":
            found += 1
            annotator = dict(out.get("annotator") or {})
            if annotator.get("kind", "rules") != "llm":
                annotator = {"kind": "llm", **({"goal": annotator["goal"]} if "goal" in annotator else {})}
            if base_url is not None:
                annotator["base_url"] = base_url
            if model is not None:
                annotator["model"] = model
            out["annotator"] = annotator
        return out

    result = walk(term(spec))
    if not found:
        raise ConfigError("--llm-url/--llm-model: the reward has no ONI term ({term: oni, ...}) to point at an LLM")
    return result
