"""Annotators: who says whether a NetHack message shows progress toward a goal.

Two kinds behind one small protocol (:class:`Annotator`):

* :class:`LLMAnnotator` asks an OpenAI-compatible server (vLLM, llama.cpp,
  Ollama, OpenAI) through :class:`rewardlab.llm.LLMClient`: a classification
  prompt ("does this message show progress toward the goal?") and a pairwise
  ranking prompt ("which of two messages shows more progress?"), after ONI
  (Zheng et al. 2024, "Online Intrinsic Rewards for Decision Making Agents from
  Large Language Model Feedback") and Motif (Klissarov et al. 2023). Answers
  that cannot be parsed are counted, logged and returned as *malformed*
  (the service asks again, then gives up on that message): they never crash a run.
* :class:`RuleAnnotator` matches keyword/pattern rules over NetHack messages:
  offline, instant, a baseline. Its model name is ``rules`` and it is never
  presented as an LLM.

An answer is a value in ``[0, 1]``: the probability that a message shows
progress (classification), or that the first message of a pair shows more
progress than the second (ranking; ``0.5`` for no preference).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rewardlab.oni.messages import GOALS, resolve_goal

log = logging.getLogger(__name__)

#: bump when a prompt changes: labels are stored per prompt version, so new prompts ask again
PROMPT_VERSION = "oni-prompt-v1"
RULES_VERSION = "rules-v1"
KINDS = ("classify", "rank")


@dataclass(frozen=True)
class Answer:
    """One annotation: ``value`` in [0, 1], or ``None`` with the ``error`` (``malformed``: the reply was unreadable).

    Examples:
        >>> from rewardlab.oni import Answer
        >>> Answer(1.0).value, Answer(None, error="timeout").error
        (1.0, 'timeout')
    """

    value: float | None
    error: str | None = None
    malformed: bool = False
    #: ``False``: the question never reached a model (a prompt list the server refused): ask again, no failure
    asked: bool = True


@runtime_checkable
class Annotator(Protocol):
    """What the annotation service needs from an annotator.

    Optional: ``concurrency`` (calls the service may have in flight at once; default 1), ``takes_lists``
    (one call of many queries is one request, as a prompt list; ``False``: the service calls with one query at a
    time so that each answer is stored as soon as it arrives; default ``True``) and ``linger`` (at most how long
    a call of fewer queries than a full list waits for more while another call is out: what a call costs decides;
    default 0).

    Examples:
        >>> from rewardlab.oni import Annotator, RuleAnnotator
        >>> isinstance(RuleAnnotator(), Annotator)          # any object with classify/compare and a scope
        True
    """

    #: the model that answers (``"rules"`` for :class:`RuleAnnotator`), stored with every label
    model: str
    #: the prompt (or rule set) version, stored with every label
    prompt_version: str
    #: the canonical goal (see :data:`rewardlab.oni.messages.GOALS`)
    goal: str

    def classify(self, messages: Sequence[str]) -> list[Answer]:
        """For each message: does it show progress toward the goal?"""
        ...

    def compare(self, pairs: Sequence[tuple[str, str]]) -> list[Answer]:
        """For each pair ``(a, b)``: the probability that ``a`` shows more progress than ``b``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# -- rules ---------------------------------------------------------------------------------------

_COMMON = [r"welcome to experience level", r"\byou feel (more|much|stronger|tough|agile|healthy|wise|smart)"]
RULES: dict[str, list[str]] = {
    "default": [
        *_COMMON,
        r"\byou kill",
        r"\byou destroy",
        r"\bis (killed|destroyed)\b",
        r"\bgold pieces?\b",
        r"\byou see here\b",
        r"\byou find\b",
        r"\bthere is a staircase (down|up) here\b",
        r"^[a-zA-Z\$] - ",  # an item entered the inventory: "f - a food ration."
        r"\b(delicious|hits the spot)\b",
        r"\bthe door opens\b",
        r"\byou succeed in (unlocking|picking)",
    ],
    "gold": [r"\bgold pieces?\b", r"\bgold\b"],
    "stairs": [
        r"\bstaircase down\b",
        r"\bdownstairs?\b",
        r"\bhidden (door|passage)\b",
        r"\bthe door opens\b",
        r"\byou (climb|descend)\b",
        r"\byou succeed in (unlocking|picking)",
    ],
    "combat": [
        *_COMMON,
        r"\byou kill",
        r"\byou destroy",
        r"\bis (killed|destroyed)\b",
        r"\byou (hit|kick|bite|smite|strike|bash)\b",
    ],
}
#: messages never counted as progress whatever else they say
NEVER = [r"\byou die\b", r"\bdo you want your possessions identified\b", r"\bit's a wall\b", r"\bit's solid stone\b"]


class RuleAnnotator:
    """Keyword and pattern rules over NetHack messages (offline, instant; not an LLM).

    A message shows progress when one of the goal's patterns matches (case
    insensitive) and none of :data:`NEVER` does; pairs compare those verdicts.
    ``rules`` extends or replaces (``replace=True``) the built-in patterns.

    Examples:
        >>> from rewardlab.oni import RuleAnnotator
        >>> rules = RuleAnnotator(goal="gold")
        >>> [a.value for a in rules.classify(["You see here 12 gold pieces.", "It's a wall."])]
        [1.0, 0.0]
    """

    model = "rules"
    concurrency = 1
    takes_lists = True
    linger = 0.0  # a call costs next to nothing: label at once

    def __init__(self, *, goal: str = "default", rules: Sequence[str] = (), replace: bool = False) -> None:
        self.goal = resolve_goal(goal)
        patterns = [*(() if replace else RULES[self.goal]), *rules]
        self._patterns = [re.compile(p, re.IGNORECASE) for p in patterns]
        self._never = [re.compile(p, re.IGNORECASE) for p in NEVER]
        self.prompt_version = RULES_VERSION if not rules else f"{RULES_VERSION}+{len(rules)}custom"
        self.calls = 0

    def score(self, message: str) -> float:
        """1.0 when the message shows progress by the rules, else 0.0."""
        if not message or any(p.search(message) for p in self._never):
            return 0.0
        return float(any(p.search(message) for p in self._patterns))

    def classify(self, messages: Sequence[str]) -> list[Answer]:
        self.calls += 1
        return [Answer(self.score(m)) for m in messages]

    def compare(self, pairs: Sequence[tuple[str, str]]) -> list[Answer]:
        self.calls += 1
        return [Answer(0.5 + 0.5 * (self.score(a) - self.score(b))) for a, b in pairs]

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"RuleAnnotator(goal={self.goal!r})"


# -- LLM -----------------------------------------------------------------------------------------

SYSTEM = (
    "You are a helpful and honest judge of good gameplay and progress in the NetHack game. "
    "Always answer as helpfully as possible, while being truthful."
)
CLASSIFY_PROMPT = """NetHack shows short messages at the top of the screen while the player acts.
The player's goal: {goal}.

Here is one message the player just saw:
"{message}"

Does this message show progress toward the goal? First think in one short sentence, then end your answer
with a JSON object on its own line: {{"progress": true}} or {{"progress": false}}."""
RANK_PROMPT = """NetHack shows short messages at the top of the screen while the player acts.
The player's goal: {goal}.

Message 1: "{first}"
Message 2: "{second}"

Which message shows more progress toward the goal? First think in one short sentence, then end your answer
with a JSON object on its own line: {{"preferred": 1}}, {{"preferred": 2}} or {{"preferred": 0}} (no preference)."""

_JSON = re.compile(r"\{[^{}]*\}")
_YES_NO = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)
_PREFERRED = re.compile(r"\b(?:message|preferred|answer)\W{0,3}([012])\b", re.IGNORECASE)


def _last_json(text: str) -> Mapping[str, Any] | None:
    for chunk in reversed(_JSON.findall(text)):
        try:
            value = json.loads(chunk)
        except ValueError:
            continue
        if isinstance(value, Mapping):
            return value
    return None


def parse_progress(text: str) -> float | None:
    """1.0 / 0.0 from a classification answer (its last JSON object, else its last yes/no/true/false); None."""
    obj = _last_json(text)
    if obj is not None and "progress" in obj:
        value = obj["progress"]
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return float(value.strip().lower() in ("true", "yes"))
        if isinstance(value, int | float) and value in (0, 1):
            return float(value)
    words = _YES_NO.findall(text)
    if words:
        return float(words[-1].lower() in ("yes", "true"))
    return None


def parse_preference(text: str) -> float | None:
    """P(first preferred) from a ranking answer: ``{"preferred": 1}`` → 1.0, ``2`` → 0.0, ``0`` → 0.5; None."""
    obj = _last_json(text)
    choice: Any = None
    if obj is not None and "preferred" in obj:
        choice = obj["preferred"]
    else:
        found = _PREFERRED.findall(text)
        choice = found[-1] if found else None
    try:
        choice = int(choice)
    except (TypeError, ValueError):
        return None
    return {1: 1.0, 2: 0.0, 0: 0.5}.get(choice)


BATCHING = ("auto", "prompt_list", "concurrent")


def render(messages: Sequence[Mapping[str, str]]) -> str:
    """A chat as one raw prompt for ``/v1/completions``: the system text, the question, then ``Answer:``."""
    return "\n\n".join(m["content"] for m in messages) + "\n\nAnswer:"


class LLMAnnotator:
    """Ask an LLM whether messages show progress: many prompts per request, several requests in flight.

    Args:
        client: an :class:`~rewardlab.llm.LLMClient` or its settings (``base_url``, ``model``, ...).
        goal: ``default``/``score``, ``gold``, ``stairs``/``descend`` or ``combat``.
        max_tokens: room for the short reasoning and the JSON verdict.
        batching: ``prompt_list`` sends the queries of a call as ONE ``/v1/completions`` request with a list of
            prompts (the chat rendered by :func:`render`; vLLM and llama.cpp batch them, as ONI does);
            ``concurrent`` sends one chat request per query, at most ``client.config.concurrency`` at once;
            ``auto`` (default) tries a prompt list and falls back to ``concurrent`` for good the first time the
            server refuses one (HTTP 400/404/405/422/501, or an answer without one choice per prompt).

    The service keeps up to ``concurrency`` calls in flight (:attr:`concurrency`), each one request when
    :attr:`takes_lists`, else one query each. While a request is in flight, a prompt list shorter than the
    service's batch waits for more queries, until a request comes back or for at most :attr:`linger` seconds
    (0.5): each request costs the training process about a millisecond of interpreter time (the HTTP client, the
    answer's parsing), so a trickle of new messages sent one request each slows the env loop
    (``benchmarks/bench_oni_throughput.py``).

    ``malformed`` counts answers that could not be parsed (logged at WARNING
    with the first 200 characters), ``failures`` requests that failed after
    the client's retries.

    Examples:
        >>> from rewardlab.oni import LLMAnnotator
        >>> server = {"base_url": "http://127.0.0.1:8000/v1", "model": "qwen2.5-7b-instruct"}
        >>> annotator = LLMAnnotator(server, goal="gold")
        >>> annotator.model, annotator.goal          # nothing is sent until classify() or compare() is called
        ('qwen2.5-7b-instruct', 'gold')
    """

    def __init__(
        self, client: Any = None, *, goal: str = "default", max_tokens: int = 96, batching: str = "auto"
    ) -> None:
        from rewardlab.llm import LLMClient

        if batching not in BATCHING:
            raise ValueError(f"unknown batching {batching!r}; valid: {list(BATCHING)}")
        self.batching = batching
        self.client = client if isinstance(client, LLMClient) else LLMClient(client)
        self.concurrency = self.client.config.concurrency
        self.goal = resolve_goal(goal)
        self.model = self.client.config.model
        self.prompt_version = PROMPT_VERSION
        self.max_tokens = int(max_tokens)
        self.linger = 0.5
        self.malformed = 0
        self.failures = 0
        self._lock = threading.Lock()
        # import openai and build its client here, not in the worker thread on the first batch:
        # a worker busy importing holds the GIL and would stall the env loop once
        api = self.client._openai()
        api.completions, api.chat.completions  # noqa: B018 - the same for their lazily imported modules

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def classify_prompt(self, message: str) -> list[dict[str, str]]:
        user = CLASSIFY_PROMPT.format(goal=GOALS[self.goal], message=message)
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def rank_prompt(self, first: str, second: str) -> list[dict[str, str]]:
        user = RANK_PROMPT.format(goal=GOALS[self.goal], first=first, second=second)
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    @property
    def takes_lists(self) -> bool:
        return self.batching != "concurrent"

    def _send(self, prompts: list[list[dict[str, str]]]) -> list[str | Exception] | None:
        """The replies (an ``LLMError`` for a failed one); ``None`` when ``auto`` just found lists refused."""
        from rewardlab.llm import LLMError, PromptListRejected

        if not self.takes_lists:
            return self.client.complete_batch(prompts, max_tokens=self.max_tokens)
        try:
            return list(self.client.complete_prompts([render(p) for p in prompts], max_tokens=self.max_tokens))
        except PromptListRejected as exc:
            if self.batching != "auto":
                return [exc] * len(prompts)
            with self._lock:
                if self.batching == "auto":
                    log.info("ONI: %s; sending one chat request per message instead (batching: concurrent)", exc)
                    self.batching = "concurrent"
            return None
        except LLMError as exc:
            return [exc] * len(prompts)

    def _ask(self, prompts: list[list[dict[str, str]]], parse: Any) -> list[Answer]:
        from rewardlab.llm import LLMError

        replies = self._send(prompts)
        if replies is None:
            return [Answer(None, error="prompt list refused; asked again by chat", asked=False)] * len(prompts)
        out = []
        for reply in replies:
            if isinstance(reply, LLMError):
                with self._lock:
                    self.failures += 1
                out.append(Answer(None, error=str(reply)))
                continue
            value = parse(reply)
            if value is None:
                with self._lock:
                    self.malformed += 1
                log.warning("ONI: unreadable LLM answer (%d so far): %r", self.malformed, reply[:200])
                out.append(Answer(None, error=f"unreadable answer: {reply[:200]!r}", malformed=True))
            else:
                out.append(Answer(value))
        return out

    def classify(self, messages: Sequence[str]) -> list[Answer]:
        return self._ask([self.classify_prompt(m) for m in messages], parse_progress)

    def compare(self, pairs: Sequence[tuple[str, str]]) -> list[Answer]:
        return self._ask([self.rank_prompt(a, b) for a, b in pairs], parse_preference)

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return (f"LLMAnnotator(base_url={self.client.config.base_url!r}, model={self.model!r}, goal={self.goal!r}, "
                f"batching={self.batching!r})")


ANNOTATOR_KINDS = ("llm", "rules")


def make_annotator(config: Mapping[str, Any] | Annotator | None = None) -> Annotator:
    """An annotator from its config: ``{kind: rules, goal: gold}`` or ``{kind: llm, base_url, model, goal, ...}``.

    LLM settings other than ``goal``, ``max_tokens`` and ``batching`` go to :class:`rewardlab.llm.LLMConfig`
    (``base_url``, ``model``, ``api_key_env``, ``timeout``, ``concurrency``, ``log_path``, ...).

    Examples:
        >>> from rewardlab.oni import make_annotator
        >>> type(make_annotator({"kind": "rules", "goal": "stairs"})).__name__
        'RuleAnnotator'
    """
    if config is None:
        return RuleAnnotator()
    if isinstance(config, Annotator) and not isinstance(config, Mapping):
        return config
    if not isinstance(config, Mapping):
        raise ValueError(f"annotator must be a mapping such as {{kind: rules}}, got {config!r}")
    settings = dict(config)
    kind = settings.pop("kind", "rules")
    goal = settings.pop("goal", "default")
    if kind == "rules":
        rules = settings.pop("rules", ())
        replace = settings.pop("replace", False)
        if settings:
            raise ValueError(f"unknown rule annotator setting(s) {sorted(settings)}; valid: goal, rules, replace")
        return RuleAnnotator(goal=goal, rules=list(rules), replace=bool(replace))
    if kind == "llm":
        from dataclasses import fields

        from rewardlab.config.registry import ConfigError, suggest
        from rewardlab.llm import LLMClient, LLMConfig

        valid = list(dict.fromkeys(["kind", "goal", "max_tokens", "batching", *(f.name for f in fields(LLMConfig))]))
        for key in settings:
            if key not in valid:
                raise ConfigError(f"annotator: unknown LLM setting {key!r}{suggest(str(key), valid)}; "
                                  f"valid: {valid}")  # fmt: skip
        max_tokens = settings.pop("max_tokens", 96)
        batching = settings.pop("batching", "auto")
        return LLMAnnotator(LLMClient(LLMConfig.from_config(settings, where="annotator")), goal=goal,
                            max_tokens=max_tokens, batching=batching)
    raise ValueError(f"unknown annotator kind {kind!r}; valid: {list(ANNOTATOR_KINDS)}")
