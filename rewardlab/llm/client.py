"""The project's one LLM client: any OpenAI-compatible chat server (vLLM, llama.cpp, Ollama, OpenAI).

``LLMClient`` wraps the ``openai`` package with its own retries off and ours on: exponential
back-off with jitter (``min(max_delay, base·2^attempt)·U(0.5, 1)``, or the server's ``Retry-After``)
on HTTP 429 / 5xx, timeouts, dropped connections and malformed responses; other HTTP errors (400,
401, 404) fail at once. ``complete_batch`` runs requests concurrently (at most ``concurrency`` in
flight for the whole client) and keeps their order, returning an :class:`LLMError` in place of a
failed request instead of raising. ``check()`` asks ``/models`` and raises :class:`LLMUnreachable`
naming the URL and the error. ``complete_prompts`` sends a list of raw prompts in one
``/v1/completions`` request (vLLM and llama.cpp batch them), raising :class:`PromptListRejected` when the
server does not take lists. With ``log_path`` every call is appended to a JSONL file (request,
answer or error, attempts, latency; never the API key).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Message = Mapping[str, str]

#: the key sent when the env variable is unset: local servers (vLLM, llama.cpp, Ollama) ignore it.
PLACEHOLDER_KEY = "not-needed"


class LLMError(RuntimeError):
    """A request to the LLM server failed (after retries where retrying made sense).

    ``status`` is the HTTP status when there was one, ``attempts`` the requests made.

    Examples:
        >>> from rewardlab.llm import LLMClient, LLMError
        >>> client = LLMClient(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=1.0)  # nothing listens
        >>> answers = client.complete_batch([[{"role": "user", "content": "Say OK."}]])  # a batch never raises
        >>> isinstance(answers[0], LLMError), answers[0].attempts
        (True, 1)
    """

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class LLMUnreachable(LLMError):
    """No server answered at the configured URL; the message says what was tried.

    Examples:
        >>> from rewardlab.llm import LLMClient, LLMUnreachable
        >>> client = LLMClient(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=1.0)  # nothing listens
        >>> try:
        ...     client.check()
        ... except LLMUnreachable as exc:
        ...     print(str(exc).split(" (")[0])             # then: what failed and how to start a server
        no OpenAI-compatible server answered at http://127.0.0.1:9/v1/models
    """


class PromptListRejected(LLMError):
    """The server does not take a list of prompts in one ``/v1/completions`` request (use chat requests).

    It is an :class:`LLMError`, so callers that batch prompts catch it and fall back to one chat
    request per prompt.

    Examples:
        >>> from rewardlab.llm import LLMError, PromptListRejected
        >>> try:
        ...     raise PromptListRejected("HTTP 400 on /v1/completions with a list of prompts", status=400)
        ... except LLMError as exc:                       # e.g. fall back to client.complete_batch(...)
        ...     print(type(exc).__name__, exc.status)
        PromptListRejected 400
    """


#: HTTP statuses that mean "this server does not do prompt lists on /completions" (not worth a retry)
LIST_REJECTED = (400, 404, 405, 422, 501)


@dataclass(frozen=True)
class LLMConfig:
    """Where the server is and how to talk to it.

    ``api_key_env`` names the environment variable holding the key (``None`` or unset: a
    placeholder, fine for local servers). ``retry_base_delay``/``retry_max_delay`` shape the
    back-off between attempts (seconds).

    Examples:
        >>> from rewardlab.llm import LLMConfig
        >>> config = LLMConfig.from_config({"base_url": "http://localhost:11434/v1", "model": "llama3"})  # Ollama
        >>> config.model, config.max_retries
        ('llama3', 4)
        >>> LLMConfig.from_config({"modle": "llama3"})
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: llm: unknown LLM setting 'modle' (did you mean 'model'?); valid: [...]
    """

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "qwen2.5-7b-instruct"
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout: float = 30.0
    max_retries: int = 4
    concurrency: int = 4
    temperature: float = 0.0
    max_tokens: int = 512
    log_path: str | None = None
    retry_base_delay: float = 0.5
    retry_max_delay: float = 20.0

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError("; ".join(problems))

    def _problems(self) -> list[str]:
        out = []
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            out.append(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {self.base_url!r}")
        if not isinstance(self.model, str) or not self.model:
            out.append(f"model must be a non-empty string, got {self.model!r}")
        if self.api_key_env is not None and not isinstance(self.api_key_env, str):
            out.append(f"api_key_env must name an environment variable, got {self.api_key_env!r}")
        for name in ("timeout", "retry_base_delay", "retry_max_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                out.append(f"{name} must be a positive number of seconds, got {value!r}")
        for name, low in (("max_retries", 0), ("concurrency", 1), ("max_tokens", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                out.append(f"{name} must be an integer >= {low}, got {value!r}")
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, int | float) or self.temperature < 0:
            out.append(f"temperature must be a number >= 0, got {self.temperature!r}")
        if self.log_path is not None and not isinstance(self.log_path, str | os.PathLike):
            out.append(f"log_path must be a file path, got {self.log_path!r}")
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, *, where: str = "llm") -> LLMConfig:
        """Build from a YAML mapping (``None``: defaults); bad fields raise one clear ``ConfigError``."""
        from rewardlab.config.registry import ConfigError, suggest

        if config is None:
            return cls()
        if isinstance(config, LLMConfig):
            return config
        if not isinstance(config, Mapping):
            raise ConfigError(f"{where}: expected a mapping of LLM settings, got {type(config).__name__}")
        valid = [f.name for f in fields(cls)]
        for key in config:
            if key not in valid:
                raise ConfigError(f"{where}: unknown LLM setting {key!r}{suggest(str(key), valid)}; valid: {valid}")
        values = dict(config)
        for name in ("timeout", "temperature", "retry_base_delay", "retry_max_delay"):
            if isinstance(values.get(name), int) and not isinstance(values[name], bool):
                values[name] = float(values[name])
        if isinstance(values.get("log_path"), os.PathLike):
            values["log_path"] = os.fspath(values["log_path"])
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LLMClient:
    """Chat completions against an OpenAI-compatible server, with retries, a concurrency limit and a log.

    Args:
        config: an :class:`LLMConfig`, a mapping of its fields (from YAML) or ``None`` (defaults).
        overrides: fields that replace the config's.

    Examples:
        >>> from rewardlab.llm import LLMClient
        >>> client = LLMClient({"model": "llama3"}, base_url="http://localhost:11434/v1", temperature=0.2)
        >>> client
        LLMClient(base_url='http://localhost:11434/v1', model='llama3')
        >>> client.complete([{"role": "user", "content": "Say OK."}])  # doctest: +SKIP
        'OK.'
    """

    def __init__(self, config: LLMConfig | Mapping[str, Any] | None = None, /, **overrides: Any) -> None:
        cfg = config if isinstance(config, LLMConfig) else LLMConfig.from_config(config)
        if overrides:
            cfg = LLMConfig(**{**cfg.to_dict(), **overrides})
        self.config = cfg
        self._setup()

    def _setup(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.config.concurrency)
        self._closed = threading.Event()
        self.stats = {
            "calls": 0,
            "attempts": 0,
            "retries": 0,
            "failures": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "seconds": 0.0,
        }

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.config = state["config"]
        self._setup()

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.config.base_url!r}, model={self.config.model!r})"

    # -- connection -------------------------------------------------------------------------------

    def _api_key(self) -> str:
        name = self.config.api_key_env
        key = os.environ.get(name) if name else None
        if key:
            return key
        if "api.openai.com" in self.config.base_url:
            raise LLMError(
                f"{self.config.base_url} needs an API key: set the environment variable {name or 'OPENAI_API_KEY'}"
            )
        return PLACEHOLDER_KEY

    def _openai(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    base_url=self.config.base_url,
                    api_key=self._api_key(),
                    timeout=self.config.timeout,
                    max_retries=0,  # ours, below
                )
            return self._client

    def close(self) -> None:
        """Abort back-off waits (pending calls fail with ``LLMError``) and close connections."""
        self._closed.set()
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):  # closing is best effort
                    self._client.close()
                self._client = None

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> str:
        """One chat completion: the assistant's text (``""`` when the server sends none).

        Raises :class:`LLMUnreachable` when no server answered after the retries, :class:`LLMError`
        for any other failure.
        """
        request = self._request(temperature, max_tokens, messages=[dict(m) for m in messages])
        return self._call(request, lambda api: _post(api, "/chat/completions", request), self._read)

    def complete_prompts(
        self,
        prompts: Sequence[str],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> list[str]:
        """Many raw-text completions in ONE ``/v1/completions`` request (a list of prompts), in their order.

        vLLM batches such a list on the GPU (ONI's way of labelling, Zheng et al. 2024). Raises like
        :meth:`complete`; :class:`PromptListRejected` when the server refuses a list of prompts (HTTP 400,
        404, 405, 422 or 501, or an answer without one choice per prompt).
        """
        if not prompts:
            return []
        request = self._request(temperature, max_tokens, prompt=list(prompts))
        n = len(prompts)
        return self._call(request, lambda api: _post(api, "/completions", request), lambda r: self._read_list(r, n))

    def _request(self, temperature: float | None, max_tokens: int | None, **body: Any) -> dict[str, Any]:
        cfg = self.config
        return {
            "model": cfg.model,
            **body,
            "temperature": cfg.temperature if temperature is None else temperature,
            "max_tokens": cfg.max_tokens if max_tokens is None else max_tokens,
        }

    def _call(self, request: dict[str, Any], send: Any, read: Any) -> Any:
        """Send ``request`` with retries (429/5xx/timeouts/drops, ``Retry-After`` honoured); log and count it."""
        cfg = self.config
        start = time.monotonic()
        errors: list[str] = []
        attempt = 0
        try:
            while True:
                if self._closed.is_set():
                    raise LLMError("LLM client closed", attempts=attempt)
                attempt += 1
                self._count(attempts=1, retries=int(attempt > 1))
                try:
                    with self._slots:
                        response = send(self._openai())
                    answer = read(response)
                except LLMError:
                    raise
                except Exception as exc:  # noqa: BLE001 - classified below
                    retry = exc if isinstance(exc, _Retry) else _classify(exc, cfg)
                    if retry is None:
                        if "prompt" in request and getattr(exc, "status_code", None) in LIST_REJECTED:
                            raise PromptListRejected(
                                f"{cfg.base_url} refused a list of prompts on /completions "
                                f"(HTTP {exc.status_code}: {_short(exc)})", status=exc.status_code, attempts=attempt
                            ) from None
                        raise _final_error(exc, cfg, attempt) from None
                    errors.append(str(retry))
                    if attempt > cfg.max_retries:
                        raise retry.final(self, attempt, errors) from None
                    if self._closed.wait(self._backoff(attempt, retry.after)):
                        raise LLMError("LLM client closed during back-off", attempts=attempt) from None
                    continue
                self._log(request, answer, None, attempt, errors, time.monotonic() - start)
                self._count(calls=1, seconds=time.monotonic() - start)
                return answer
        except LLMError as exc:
            exc.attempts = exc.attempts or attempt
            self._log(request, None, str(exc), attempt, errors, time.monotonic() - start)
            self._count(calls=1, failures=1, seconds=time.monotonic() - start)
            raise

    def complete_batch(
        self,
        batch: Sequence[Sequence[Message]],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> list[str | LLMError]:
        """Many chat completions at once (at most ``concurrency`` in flight); order kept, failures as ``LLMError``."""
        if not batch:
            return []

        def one(messages: Sequence[Message]) -> str | LLMError:
            try:
                return self.complete(messages, temperature=temperature, max_tokens=max_tokens)
            except LLMError as exc:
                return exc
            except Exception as exc:  # noqa: BLE001 - a batch never raises
                return LLMError(f"{type(exc).__name__}: {exc}")

        if len(batch) == 1:
            return [one(batch[0])]
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(batch))) as pool:
            return list(pool.map(one, batch))

    def check(self) -> None:
        """Ask the server which models it serves; raise :class:`LLMUnreachable` (or ``LLMError``) if it cannot help."""
        cfg = self.config
        url = cfg.base_url.rstrip("/") + "/models"
        try:
            listing = self._openai().models.list()
            served = [m.id for m in getattr(listing, "data", [])]
        except Exception as exc:  # noqa: BLE001 - classified below
            status = getattr(exc, "status_code", None)
            if status is None:
                raise LLMUnreachable(
                    f"no OpenAI-compatible server answered at {url} ({_describe(exc)}); start one "
                    f"(e.g. `vllm serve {cfg.model}` or `ollama serve`, base_url http://localhost:11434/v1) "
                    f"or set base_url"
                ) from None
            if status == 404:  # some servers do not list models: try one tiny completion instead
                self.complete([{"role": "user", "content": "Say OK."}], max_tokens=1)
                return
            raise _final_error(exc, cfg, 1) from None
        if served and cfg.model not in served:
            raise LLMError(f"{url} does not serve model {cfg.model!r}; it serves: {served}")

    # -- helpers ----------------------------------------------------------------------------------

    def _read(self, response: Any) -> str:
        """The assistant's text of a chat answer (its JSON, as :func:`_post` returns it)."""
        try:
            text = response["choices"][0]["message"]["content"]
            if text is not None and not isinstance(text, str):
                raise TypeError(f"content is {type(text).__name__}")
        except (KeyError, IndexError, TypeError) as exc:
            raise _Retry(f"malformed response ({type(exc).__name__}: {exc})", kind="malformed") from None
        self._count_usage(response)
        return text or ""

    def _read_list(self, response: Any, n: int) -> list[str]:
        """The texts of a prompt-list answer, ordered by each choice's ``index``."""
        try:
            choices = sorted(response["choices"], key=lambda c: c["index"])
            texts = [c["text"] or "" for c in choices]
            if not all(isinstance(t, str) for t in texts):
                raise TypeError("a choice's text is not a string")
        except (KeyError, TypeError) as exc:
            raise _Retry(f"malformed response ({type(exc).__name__}: {exc})", kind="malformed") from None
        if len(texts) != n or [c["index"] for c in choices] != list(range(n)):
            raise PromptListRejected(
                f"{self.config.base_url} answered {len(texts)} choices to a list of {n} prompts: it does not "
                "take prompt lists"
            )
        self._count_usage(response)
        return texts

    def _count_usage(self, response: dict) -> None:
        usage = response.get("usage")
        if isinstance(usage, dict):
            self._count(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        cfg = self.config
        if retry_after is not None:
            return min(cfg.retry_max_delay, max(0.0, retry_after))
        return min(cfg.retry_max_delay, cfg.retry_base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    def _count(self, **increments: float) -> None:
        with self._lock:
            for key, value in increments.items():
                self.stats[key] += value

    def _log(
        self,
        request: dict,
        text: str | list[str] | None,
        error: str | None,
        attempts: int,
        errors: list[str],
        seconds: float,
    ) -> None:
        if not self.config.log_path:
            return
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "base_url": self.config.base_url,
            **request,
            "response": text,
            "error": error,
            "attempts": attempts,
            "attempt_errors": errors,
            "seconds": round(seconds, 4),
        }
        path = Path(self.config.log_path)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._log_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(line)


def _post(api: Any, path: str, request: dict[str, Any]) -> Any:
    """POST ``request`` to ``path`` through the openai client (its base URL, key, timeout and errors) and return
    the answer's JSON as it came: no typed request or response models, whose building costs about half a
    millisecond of interpreter time per request (``benchmarks/bench_oni_throughput.py``: every request's
    interpreter time is taken from the env loop it shares the process with)."""
    return api.post(path, body=request, cast_to=object)


class _Retry(Exception):
    """A failure worth another attempt."""

    def __init__(self, message: str, *, kind: str, after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.after = after
        self.status = status

    def final(self, client: LLMClient, attempts: int, errors: list[str]) -> LLMError:
        cfg = client.config
        tried = f"{attempts} attempt{'s' * (attempts > 1)} at {cfg.base_url} (model {cfg.model!r})"
        if self.kind == "unreachable":
            return LLMUnreachable(f"LLM server unreachable after {tried}: {self}", attempts=attempts)
        return LLMError(f"LLM request failed after {tried}: {self}", status=self.status, attempts=attempts)


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = f"{type(exc).__name__}: {exc}"
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _classify(exc: BaseException, cfg: LLMConfig) -> _Retry | None:
    """A ``_Retry`` for transient failures, ``None`` for ones that another attempt will not fix."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return _Retry(f"timed out after {cfg.timeout:g} s", kind="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return _Retry(f"connection failed ({_describe(exc)})", kind="unreachable")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429 or status >= 500 or status in (408, 409):
            return _Retry(f"HTTP {status}: {_short(exc)}", kind="status", after=_retry_after(exc), status=status)
        return None
    if isinstance(exc, openai.APIResponseValidationError | ValueError):  # includes json.JSONDecodeError
        return _Retry(f"malformed response ({type(exc).__name__}: {str(exc)[:200]})", kind="malformed")
    return None


def _short(exc: Any) -> str:
    """The server's error message when its body carries one, else the exception text."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, Mapping) else body.get("message")
        if message:
            return str(message)[:300]
    return str(exc)[:300]


def _final_error(exc: BaseException, cfg: LLMConfig, attempts: int) -> LLMError:
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        hint = f"check the API key in ${cfg.api_key_env}" if cfg.api_key_env else "set api_key_env"
        return LLMError(
            f"{cfg.base_url} refused the request (HTTP {status}: {_short(exc)}); {hint}",
            status=status,
            attempts=attempts,
        )
    if status == 404:
        return LLMError(
            f"{cfg.base_url} answered HTTP 404 ({_short(exc)}): is base_url right (it usually ends "
            f"in /v1) and is model {cfg.model!r} served?",
            status=status,
            attempts=attempts,
        )
    if status is not None:
        return LLMError(f"{cfg.base_url} answered HTTP {status}: {_short(exc)}", status=status, attempts=attempts)
    return LLMError(f"LLM request to {cfg.base_url} failed: {_describe(exc)}", attempts=attempts)
