"""The generate → check → train → select → refine loop (Eureka; ICPL with a person or a synthetic one).

Each round asks the LLM for ``candidates`` reward programs from one
conversation, checks and probes each (:func:`~rewardlab.codegen.program.make_program`;
a rejected answer gets its exact error back and ``fix_attempts`` more tries),
trains every valid one briefly and in parallel on the sweep runner, then picks one:

* ``select="metric"`` (Eureka, Ma et al. 2024): the best task score
  (``metric``, default the env's own return in evaluation episodes);
* ``select="human"`` (ICPL, Yu et al. 2024): a person watches the candidates'
  evaluation videos side by side and picks the best (and optionally the worst);
* ``select="synthetic"``: ICPL with the person replaced by a preference for the
  highest true return (how the ICPL paper tests its loop without people).

The next round's conversation is the opening plus the chosen program and its
feedback: the task score and every component's statistics over training (from
the run's ``reward_terms.csv``), or the error that stopped it; for ICPL also the
least preferred program. Everything lands in ``out``::

    loop.json                         the settings and the model
    round_00/messages.json            the conversation of the round
    round_00/candidates.json          each candidate: generation, program id or error, score
    round_00/runs/                    the round's sweep (one run per candidate × seed)
    round_00/videos/                  candidate_<i>.gif and side_by_side.gif (ICPL)
    round_00/choice.json              which candidate was chosen, by whom
    best.json                         the best program, its score, and how to train with it

A loop run again in the same folder continues where it stopped (finished
rounds are read back, the sweep resumes, stored answers are reused), and a loop
run with the same settings and store but no server replays from the store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.codegen import prompts
from rewardlab.codegen.describe import describe_env
from rewardlab.codegen.feedback import component_statistics, statistics_table
from rewardlab.codegen.generate import Generation, Generator
from rewardlab.codegen.program import Program, RejectedProgram, make_program
from rewardlab.codegen.sandbox import Limits, SandboxUnavailable, check_fences
from rewardlab.codegen.store import GenerationStore
from rewardlab.config.registry import ConfigError, suggest
from rewardlab.sweep.state import read_json, write_json_atomic

SELECT_MODES = ("metric", "human", "synthetic")
PROMPT_MODES = ("zero_shot", "few_shot")
BACKENDS = ("local", "ray", "inline")
Chooser = Callable[["Round"], "int | tuple[int, int | None]"]


@dataclass
class LoopConfig:
    """Settings of a codegen loop (see the module docs); ``validate()`` names the first bad one.

    Examples:
        >>> from rewardlab.codegen import LoopConfig
        >>> config = LoopConfig(env="MountainCar-v0", task="reach the flag", steps="10k", select="synthetic")
        >>> config.validate()
        >>> config.steps, config.make_videos
        (10000, True)
        >>> LoopConfig(env="MountainCar-v0", task="reach the flag", select="best").validate()
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: codegen: select 'best'...; valid: metric, human, synthetic
    """

    env: str
    task: str
    rounds: int = 3
    candidates: int = 4
    steps: int | str = 50_000
    algo: str = "ppo"
    seeds: int = 1
    n_envs: int | None = None
    eval_episodes: int = 5
    select: str = "metric"
    metric: str = "eval_true_return"
    prompt: str = "zero_shot"
    fix_attempts: int = 1
    temperature: float = 1.0
    max_tokens: int = 2048
    hyperparams: dict[str, Any] = field(default_factory=dict)
    videos: bool | None = None  # default: on for human and synthetic selection
    video_steps: int = 150

    def validate(self) -> None:
        from rewardlab.codegen.describe import supported_envs
        from rewardlab.train import parse_steps

        envs = supported_envs()
        if self.env not in envs:
            raise ConfigError(f"codegen: unknown or unsupported env {self.env!r}{suggest(self.env, envs)}; "
                              f"supported: {', '.join(envs)}")  # fmt: skip
        if not self.task.strip():
            raise ConfigError("codegen: --task must describe what the agent should do")
        for name in ("rounds", "candidates", "seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"codegen: {name} must be >= 1, got {getattr(self, name)}")
        if self.fix_attempts < 0:
            raise ConfigError(f"codegen: fix_attempts must be >= 0, got {self.fix_attempts}")
        if self.select not in SELECT_MODES:
            raise ConfigError(f"codegen: select {self.select!r}{suggest(self.select, list(SELECT_MODES))}; "
                              f"valid: {', '.join(SELECT_MODES)}")  # fmt: skip
        if self.prompt not in PROMPT_MODES:
            raise ConfigError(f"codegen: prompt {self.prompt!r}{suggest(self.prompt, list(PROMPT_MODES))}; "
                              f"valid: {', '.join(PROMPT_MODES)}")  # fmt: skip
        self.steps = parse_steps(self.steps)

    @property
    def make_videos(self) -> bool:
        return self.select != "metric" if self.videos is None else self.videos


@dataclass
class Candidate:
    """One program of a round: where it came from, whether it passed, how it trained."""

    index: int
    generation: str | None = None
    answer: str | None = None
    program_id: str | None = None
    components: list[str] = field(default_factory=list)
    stage: str | None = None  # where it was rejected: llm, extract, static, run, training
    error: str | None = None
    attempts: int = 1
    valid_first: bool = False
    rejections: list[dict[str, str]] = field(default_factory=list)  # every failed attempt: stage, error
    run_dirs: list[str] = field(default_factory=list)
    score: float | None = None
    true_return: float | None = None
    video: str | None = None

    @property
    def trained(self) -> bool:
        return self.score is not None and self.error is None


@dataclass
class Round:
    """A round: its candidates and, once made, the choice."""

    index: int
    folder: Path
    candidates: list[Candidate]
    chosen: int | None = None
    worst: int | None = None
    chosen_by: str | None = None
    side_by_side: str | None = None

    @property
    def trained(self) -> list[Candidate]:
        return [c for c in self.candidates if c.trained]

    @property
    def valid_rate(self) -> float:
        """Fraction of candidates that became usable programs (after fix attempts)."""
        return sum(c.program_id is not None for c in self.candidates) / len(self.candidates)

    @property
    def valid_first_rate(self) -> float:
        """Fraction of first answers that were usable without a fix."""
        return sum(c.valid_first for c in self.candidates) / len(self.candidates)


class CodegenLoop:
    """Run the loop of the module docs into ``out``.

    Args:
        config: the settings.
        out: the loop's folder.
        client: the LLM client; None works offline from ``store`` (the model comes from
            ``out/loop.json`` or ``model``).
        store: the generation store (default: :class:`GenerationStore`'s default root).
        model: model name for offline replay into a new folder.
        workers, backend: the sweep runner's (``local`` or ``ray``), or ``inline``: train one run after
            the other in this process (tiny budgets: notebooks, tests).
        log: where progress lines go (``print`` by default; None for silence).
        allow_unfenced: run the programs even on a machine where the sandbox has no filesystem
            fence (neither Landlock nor a mount namespace); by default such a machine is refused up front.

    Examples:
        Replay one round offline from answers an LLM gave before (with a server: ``client=LLMClient(...)``):

        >>> from rewardlab.codegen import CodegenLoop, GenerationStore, LoopConfig
        >>> config = LoopConfig(env="MountainCar-v0", task="reach the flag", rounds=1, candidates=1, steps=256,
        ...                     eval_episodes=1)
        >>> store = GenerationStore("codegen_store")
        >>> loop = CodegenLoop(config, "runs/doc_codegen", store=store, model="demo", backend="inline", log=None)
        >>> answer = "```python\\ndef compute_reward(next_obs):\\n    return {'height': next_obs[:, 0]}\\n```"
        >>> _ = store.put_answer(loop.generator.request(loop.messages(0), 0), answer)
        >>> best = loop.run()
        >>> best["components"], best["train"]
        (['generated/height'], 'rewardlab train --env MountainCar-v0 --reward generated:...')
    """

    def __init__(
        self,
        config: LoopConfig,
        out: str | Path,
        *,
        client: Any = None,
        store: GenerationStore | None = None,
        model: str | None = None,
        workers: int | None = None,
        backend: str = "local",
        log: Callable[[str], None] | None = print,
        allow_unfenced: bool = False,
    ) -> None:
        config.validate()
        if backend not in BACKENDS:
            raise ConfigError(f"codegen: unknown backend {backend!r}{suggest(backend, list(BACKENDS))}; "
                              f"valid: {', '.join(BACKENDS)}")  # fmt: skip
        self.config = config
        self.out = Path(out)
        self.store = store or GenerationStore()
        self.workers = workers
        self.backend = backend
        self.log = log or (lambda _line: None)
        self.limits = Limits(allow_unfenced=allow_unfenced)
        try:
            check_fences(self.limits)
        except SandboxUnavailable as err:
            raise ConfigError(f"codegen: {err}") from None
        saved = read_json(self.out / "loop.json")
        if saved is not None and saved["config"] != _jsonable(config):
            raise ConfigError(
                f"{str(self.out)!r} holds a codegen loop with other settings; give another --out or delete it"
            )
        model = model or (client.config.model if client is not None else None) or (saved or {}).get("model")
        if model is None:
            raise ConfigError("codegen: no LLM server (--llm-url) and no model to replay from the store (--model)")
        self.generator = Generator(
            client, self.store, model=model, temperature=config.temperature, max_tokens=config.max_tokens
        )
        self.description = describe_env(config.env)
        examples = prompts.few_shot_examples(config.env) if config.prompt == "few_shot" else ()
        self.opening = prompts.first_messages(self.description, config.task, examples=examples)
        self.rounds: list[Round] = []
        self.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.out / "loop.json", {"config": _jsonable(config), "model": model})

    # -- the whole loop -----------------------------------------------------------------------
    def run(self, chooser: Chooser | None = None) -> dict[str, Any]:
        """All rounds; ``chooser(round)`` picks for ``select="human"``. Returns :meth:`best`."""
        while True:
            if self.rounds and self.rounds[-1].chosen is None:
                self.select(self.rounds[-1], chooser)
            if len(self.rounds) >= self.config.rounds:
                return self.best()
            self.propose(len(self.rounds))

    def step(self, chooser: Chooser | None = None) -> Round | None:
        """Choose in the pending round (by the rule; a person's only through ``chooser``), then propose the next.

        Returns the new round, or None when all rounds are done. With ``select="human"`` and no
        chooser, the new round waits for :meth:`choose` (a notebook shows it with
        :func:`rewardlab.codegen.widgets.choice_widget`).
        """
        if self.rounds and self.rounds[-1].chosen is None:
            if self.config.select == "human" and chooser is None:
                raise ConfigError(f"round {self.rounds[-1].index} waits for a choice: call loop.choose(round, index)")
            self.select(self.rounds[-1], chooser)
        if len(self.rounds) >= self.config.rounds:
            return None
        return self.propose(len(self.rounds))

    def select(self, rnd: Round, chooser: Chooser | None = None) -> Round:
        """Make the round's choice by the configured rule (a person's through ``chooser``)."""
        trained = rnd.trained
        if not trained:
            return self.choose(rnd, None, by="nothing trained")
        mode = self.config.select
        if mode == "metric":
            best = max(trained, key=lambda c: c.score)
            return self.choose(rnd, best.index, by=f"metric {self.config.metric}")
        if mode == "synthetic":
            ranked = sorted(trained, key=lambda c: c.true_return)
            worst = ranked[0].index if len(ranked) > 1 else None
            return self.choose(rnd, ranked[-1].index, worst, by="synthetic preference (true return)")
        if chooser is None:
            raise ConfigError("select='human' needs a chooser (the CLI asks on the terminal)")
        picked = chooser(rnd)
        best, worst = picked if isinstance(picked, tuple) else (picked, None)
        return self.choose(rnd, best, worst, by="human")

    # -- one round ----------------------------------------------------------------------------
    def propose(self, r: int) -> Round:
        """Round ``r``: generate, check, train and (for ICPL) film the candidates; read back when done before."""
        if r != len(self.rounds):
            raise ValueError(f"rounds run in order: next is {len(self.rounds)}, got {r}")
        folder = self.out / f"round_{r:02d}"
        saved = read_json(folder / "candidates.json")
        messages = self.messages(r)
        if saved is not None and saved.get("messages_hash") == _hash(messages):
            candidates = [Candidate(**c) for c in saved["candidates"]]
            rnd = Round(r, folder, candidates, side_by_side=saved.get("side_by_side"))
            choice = read_json(folder / "choice.json")
            if choice is not None:
                rnd.chosen, rnd.worst, rnd.chosen_by = choice["chosen"], choice.get("worst"), choice["by"]
            self.rounds.append(rnd)
            self.log(f"round {r}: read back from {folder}")
            return rnd
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "messages.json", messages)
        candidates = self._generate(messages, r)
        rnd = Round(r, folder, candidates)
        self.log(
            f"round {r}: {sum(c.program_id is not None for c in candidates)}/{len(candidates)} valid programs "
            f"({sum(c.valid_first for c in candidates)} at the first try)"
        )
        for c in candidates:
            if c.error:
                self.log(f"  candidate {c.index} rejected ({c.stage}): {c.error.splitlines()[0]}")
        self._train(rnd)
        if self.config.make_videos and rnd.trained:
            self._film(rnd)
        write_json_atomic(
            folder / "candidates.json",
            {"messages_hash": _hash(messages), "candidates": [asdict(c) for c in candidates],
             "side_by_side": rnd.side_by_side},
        )  # fmt: skip
        self.rounds.append(rnd)
        return rnd

    def choose(self, rnd: Round, index: int | None, worst: int | None = None, *, by: str = "human") -> Round:
        """Record the choice of round ``rnd`` (``index`` None when nothing trained)."""
        valid = [c.index for c in rnd.trained]
        for name, value in (("chosen", index), ("worst", worst)):
            if value is not None and value not in valid:
                raise ConfigError(f"{name} candidate {value} did not train; choose among {valid}")
        rnd.chosen, rnd.worst, rnd.chosen_by = index, worst, by
        write_json_atomic(rnd.folder / "choice.json", {"chosen": index, "worst": worst, "by": by})
        if index is not None:
            c = rnd.candidates[index]
            self.log(f"round {rnd.index}: chose candidate {index} ({by}): {self.config.metric} = {c.score:.4g}")
        write_json_atomic(self.out / "best.json", self.best())
        return rnd

    def messages(self, r: int) -> list[dict[str, str]]:
        """The conversation of round ``r``: the opening, then feedback on round ``r - 1``'s choice."""
        if r == 0:
            return list(self.opening)
        prev = self.rounds[r - 1]
        if prev.chosen is not None:
            c = prev.candidates[prev.chosen]
            return prompts.refinement_messages(self.opening, self._source(c), self._training_feedback(prev, c))
        failed = next((c for c in prev.candidates if c.answer is not None), None)
        if failed is None:  # the LLM never answered: ask the same again
            return list(self.opening)
        code = self._source(failed) if failed.program_id else _code_of(failed.answer)
        return prompts.refinement_messages(self.opening, code, prompts.rejection_feedback(failed.error or ""))

    def best(self) -> dict[str, Any]:
        """The best program so far (by score for ``metric``, the latest choice for ICPL)."""
        chosen = [(r, r.candidates[r.chosen]) for r in self.rounds if r.chosen is not None]
        if self.config.select == "metric":
            pool = [(r, c) for r in self.rounds for c in r.trained]
            pick = max(pool, key=lambda rc: rc[1].score, default=None)
        else:
            pick = chosen[-1] if chosen else None
        rounds = [
            {"round": r.index, "valid_rate": r.valid_rate, "valid_first_rate": r.valid_first_rate,
             "scores": [c.score for c in r.candidates], "chosen": r.chosen}
            for r in self.rounds
        ]  # fmt: skip
        if pick is None:
            return {"program_id": None, "rounds": rounds}
        rnd, c = pick
        return {
            "program_id": c.program_id,
            "env": self.config.env,
            "round": rnd.index,
            "candidate": c.index,
            "metric": self.config.metric,
            "score": c.score,
            "true_return": c.true_return,
            "components": c.components,
            "run_dirs": c.run_dirs,
            "reward": {"term": "generated", "id": c.program_id, "store": str(self.store.root)},
            "train": f"rewardlab train --env {self.config.env} --reward generated:{c.program_id}",
            "rounds": rounds,
        }

    def program(self, candidate: Candidate) -> Program:
        """The stored program of a candidate that passed the checks."""
        if candidate.program_id is None:
            raise ValueError(f"candidate {candidate.index} has no program ({candidate.stage}: {candidate.error})")
        return self.store.get_program(candidate.program_id)

    # -- steps --------------------------------------------------------------------------------
    def _generate(self, messages: list[dict[str, str]], r: int) -> list[Candidate]:
        k = self.config.candidates
        if self.generator.client is None and not self.generator.stored_any([(messages, i) for i in range(k)], round=r):
            raise ConfigError(
                f"codegen: no LLM server (--llm-url) and the generation store {str(self.store.root)!r} holds no "
                f"answers for round {r} of this loop (model {self.generator.model!r}, env {self.config.env}); "
                "give --llm-url, or the same settings and --store as the run that stored them"
            )
        generations = self.generator.ask([(messages, i) for i in range(k)], round=r)
        candidates = [self._accept(Candidate(i), g) for i, g in enumerate(generations)]
        for c in candidates:
            c.valid_first = c.program_id is not None
        for attempt in range(self.config.fix_attempts):
            broken = [c for c in candidates if c.program_id is None and c.answer is not None]
            if not broken:
                break
            fixes = self.generator.ask([
                (prompts.refinement_messages(messages, _code_of(c.answer), prompts.rejection_feedback(c.error or "")),
                 1000 * (attempt + 1) + c.index)
                for c in broken
            ], round=r)  # fmt: skip
            for c, g in zip(broken, fixes):
                c.attempts += 1
                if g.answer is not None:
                    self._accept(c, g)
        return candidates

    def _accept(self, c: Candidate, g: Generation) -> Candidate:
        c.generation = g.key
        if g.answer is None:
            c.stage, c.error = "llm", g.error
            c.rejections.append({"stage": c.stage, "error": c.error or ""})
            return c
        c.answer = g.answer
        try:
            program = make_program(
                g.answer, self.config.env, task=self.config.task, generation=g.key, limits=self.limits
            )
        except SandboxUnavailable as err:
            raise ConfigError(f"codegen: {err}") from None
        except RejectedProgram as err:
            c.stage, c.error = err.stage, err.message
            c.rejections.append({"stage": c.stage, "error": c.error})
            return c
        c.program_id = self.store.put_program(program)
        c.components = [f"generated/{name}" for name in program.components]
        c.stage = c.error = None
        return c

    def _train(self, rnd: Round) -> None:
        from rewardlab.sweep.execute import execute_run
        from rewardlab.sweep.runner import run_sweep
        from rewardlab.sweep.spec import parse_spec
        from rewardlab.sweep.state import read_status, run_state

        valid = [c for c in rnd.candidates if c.program_id is not None]
        if not valid:
            return
        cfg = self.config
        spec = parse_spec({
            "name": f"codegen_round_{rnd.index:02d}",
            "out": str(rnd.folder / "runs"),
            "envs": [cfg.env],
            "rewards": {f"c{c.index}": self._reward_entry(c) for c in valid},
            "algos": {cfg.algo: dict(cfg.hyperparams)},
            "seeds": cfg.seeds,
            "steps": cfg.steps,
            "n_envs": cfg.n_envs,
            "eval_episodes": cfg.eval_episodes,
        })  # fmt: skip
        runs = spec.runs()
        todo = [r for r in runs if run_state(spec.out / r.run_id, r.config_hash) not in ("done", "failed")]
        if todo:
            self.log(f"round {rnd.index}: training {len(valid)} candidates × {cfg.seeds} seeds, {cfg.steps} steps")
            if self.backend == "inline":
                for r in todo:
                    execute_run(r, spec.out / r.run_id)
            else:
                run_sweep(spec, backend=self.backend, workers=self.workers, resume=True, progress=False, report=False)
        for c in valid:
            mine = [r for r in runs if r.reward == f"c{c.index}"]
            c.run_dirs = [str(spec.out / r.run_id) for r in mine]
            scores, returns = [], []
            for r in mine:
                summary = read_json(spec.out / r.run_id / "summary.json")
                if run_state(spec.out / r.run_id, r.config_hash) != "done" or summary is None:
                    c.stage = "training"
                    c.error = (read_status(spec.out / r.run_id) or {}).get("error") or "training did not finish"
                    break
                if cfg.metric not in summary:
                    raise ConfigError(f"metric {cfg.metric!r} is not in the run summary; valid: {', '.join(summary)}")
                scores.append(float(summary[cfg.metric]))
                returns.append(float(summary.get("eval_true_return", math.nan)))
            if c.error is None:
                c.score, c.true_return = sum(scores) / len(scores), sum(returns) / len(returns)
                self.log(f"  candidate {c.index}: {cfg.metric} = {c.score:.4g}")
            else:
                self.log(f"  candidate {c.index} failed in training: {c.error.splitlines()[0]}")

    def _reward_entry(self, c: Candidate) -> dict[str, Any]:
        entry = {"term": "generated", "id": c.program_id, "store": str(self.store.root)}
        if self.limits.allow_unfenced:  # only then: the runs' config hashes stay those of earlier loops
            entry["allow_unfenced"] = True
        return entry

    def _film(self, rnd: Round) -> None:
        from rewardlab.codegen.video import render_run, side_by_side

        folder = rnd.folder / "videos"
        gifs = []
        for c in rnd.trained:
            path = folder / f"candidate_{c.index}.gif"
            c.video = str(render_run(c.run_dirs[0], path, steps=self.config.video_steps))
            gifs.append(c)
        combined = side_by_side(
            [c.video for c in gifs], folder / "side_by_side.gif", [f"candidate {c.index}" for c in gifs]
        )
        rnd.side_by_side = str(combined)

    def _source(self, c: Candidate) -> str:
        return self.program(c).source

    def _training_feedback(self, rnd: Round, c: Candidate) -> str:
        stats = component_statistics(Path(c.run_dirs[0]) / "reward_terms.csv", c.components)
        chosen_by = ""
        if self.config.select != "metric":
            chosen_by = (
                f"A person watched the trained agents of the {len(rnd.trained)} reward functions of the last round "
                "and preferred the behaviour from this one."
            )
            if rnd.worst is not None and rnd.worst != c.index:
                worst = self._source(rnd.candidates[rnd.worst])
                chosen_by += f" The behaviour they liked least came from this reward:\n```python\n{worst.rstrip()}\n```"
        score = f"{self.config.metric} = {c.score:.4g} (mean over {len(c.run_dirs)} seed(s))"
        return prompts.training_feedback(score, statistics_table(stats), chosen_by=chosen_by)


def _code_of(answer: str | None) -> str:
    from rewardlab.codegen.validate import ValidationError, extract_code

    if answer is None:
        return ""
    try:
        return extract_code(answer)
    except ValidationError:
        return answer


def _jsonable(config: LoopConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config), default=str))


def _hash(messages: list[dict[str, str]]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
