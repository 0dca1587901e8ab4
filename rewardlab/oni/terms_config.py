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

from typing import Any

from rewardlab.config.registry import TERMS

# parameters, defaults and descriptions: ONITerm's signature and docstring
TERMS.add("oni", "rewardlab.oni.term:ONITerm", family="llm")


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
