"""Ask the LLM for reward programs, through the store: a request asked before is answered from disk.

A request is the model, the conversation, the sampling parameters, the round
and the sample's index (``k`` candidates from one conversation are samples
0..k-1), so a codegen loop that is run again, with the same settings, gets
exactly the answers it got the first time, even with no server at all
(``client=None``). The round is part of the key because two rounds can send the
same conversation (the same program chosen again, trained deterministically to
the same statistics): a sampling LLM would answer them differently, and so must
the store, or the loop would stand still.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewardlab.codegen.store import GenerationStore, request_key
from rewardlab.llm import LLMClient, LLMError


@dataclass(frozen=True)
class Generation:
    """One answer: its key in the store, the text (or the error), and whether it came from the store."""

    key: str
    answer: str | None
    error: str | None = None
    cached: bool = False


class Generator:
    """K answers per conversation, from the store when possible, else from ``client`` (then stored).

    Args:
        client: the LLM client, or None to work offline from the store only.
        store: where generations live.
        model: the model name (default: the client's); required offline.
        temperature, max_tokens: sampling parameters (part of the request key).

    Examples:
        >>> from rewardlab.codegen import GenerationStore, Generator
        >>> store = GenerationStore("codegen_store")
        >>> generator = Generator(None, store, model="demo")       # offline: answers come from the store only
        >>> messages = [{"role": "user", "content": "Write a reward for MountainCar."}]
        >>> _ = store.put_answer(generator.request(messages, sample=0), "```python\\n...\\n```")
        >>> [(g.cached, g.error is None) for g in generator.ask([(messages, 0), (messages, 1)])]
        [(True, True), (False, False)]
    """

    def __init__(
        self,
        client: LLMClient | None,
        store: GenerationStore,
        *,
        model: str | None = None,
        temperature: float = 1.0,
        max_tokens: int = 2048,
    ) -> None:
        if model is None and client is None:
            raise ValueError("offline generation needs the model name the answers were stored under")
        self.client = client
        self.store = store
        self.model = model or client.config.model  # type: ignore[union-attr]
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.asked = 0  # requests sent to the server (not answered from the store)

    def request(self, messages: Sequence[dict[str, str]], sample: int, round: int = 0) -> dict[str, Any]:  # noqa: A002
        return {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "round": round,
            "sample": sample,
        }

    def stored_any(self, conversations: Sequence[tuple[Sequence[dict[str, str]], int]], *, round: int = 0) -> bool:  # noqa: A002
        """Whether the store answers at least one ``(messages, sample)`` of ``round``."""
        return any(self.store.get_answer(self.request(m, s, round)) is not None for m, s in conversations)

    def ask(self, conversations: Sequence[tuple[Sequence[dict[str, str]], int]], *, round: int = 0) -> list[Generation]:  # noqa: A002
        """Answer each ``(messages, sample)`` of ``round``; failures come back as generations with ``error`` set."""
        requests = [self.request(m, s, round) for m, s in conversations]
        out: list[Generation | None] = []
        missing = []
        for i, req in enumerate(requests):
            answer = self.store.get_answer(req)
            out.append(Generation(request_key(req), answer, cached=True) if answer is not None else None)
            if answer is None:
                missing.append(i)
        if missing and self.client is None:
            for i in missing:
                out[i] = Generation(
                    request_key(requests[i]),
                    None,
                    error="not in the generation store and no LLM server to ask (give --llm-url, or the same "
                    "settings and --store as the run that stored it)",
                )
        elif missing:
            answers = self.client.complete_batch(  # type: ignore[union-attr]
                [requests[i]["messages"] for i in missing], temperature=self.temperature, max_tokens=self.max_tokens
            )
            self.asked += len(missing)
            for i, answer in zip(missing, answers):
                if isinstance(answer, LLMError):
                    out[i] = Generation(request_key(requests[i]), None, error=f"LLM request failed: {answer}")
                else:
                    out[i] = Generation(self.store.put_answer(requests[i], answer), answer)
        return [g for g in out if g is not None]
