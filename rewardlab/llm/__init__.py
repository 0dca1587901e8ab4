"""LLM feedback for rewards: the project's LLM client (any OpenAI-compatible server).

``openai`` is imported only when a client sends its first request.
"""

from rewardlab.llm.client import LLMClient, LLMConfig, LLMError, LLMUnreachable, PromptListRejected

__all__ = ["LLMClient", "LLMConfig", "LLMError", "LLMUnreachable", "PromptListRejected"]
