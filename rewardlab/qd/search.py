"""Quality-diversity search over small policy networks with pyribs: MAP-Elites, novelty search, SERENE, random.

Every iteration asks the emitters for a batch of flat parameter vectors
(:class:`~rewardlab.qd.policies.FlatPolicy`), rolls each out (in worker
processes when ``workers > 1``), describes each rollout with a behaviour
descriptor (:mod:`rewardlab.qd.descriptors`, all in ``[0, 1]^m``) and tells the
archives the returns and descriptors.

Algorithms (all measure coverage on the same *result archive*: a ``GridArchive``
with ``cells`` per dim, or a ``CVTArchive`` with ``cells`` random centroids when
the descriptor has more than ``max_grid_dims`` dims):

* ``map_elites`` -- isotropic mutation of archive elites (σ = ``sigma``) on the result archive
  (Mouret & Clune 2015); ``mutation="iso_line"``: the Iso+LineDD operator
  ``x_i + σ·N(0, I) + line_sigma·(x_j − x_i)·N(0, 1)`` over two elites (Vassiliades & Mouret
  2018). Parents: ``selection="curiosity"`` (default; :class:`~rewardlab.qd.emitters.CuriosityEmitter`)
  draws them with ``p ∝ c − min c + 1`` by a curiosity score per cell (+1 when an offspring
  entered the archive, −0.5 when not; Cully & Demiris 2018); ``selection="uniform"`` is pyribs'
  own ``GaussianEmitter`` / ``IsoLineEmitter`` (uniform over the elites);
* ``cma_me`` -- CMA-ME (Fontaine et al. 2020): ``EvolutionStrategyEmitter`` with CMA-ES,
  two-stage improvement ranking (``2imp``), ``filter`` selection and a restart when no
  solution improves the archive;
* ``cma_mae`` -- CMA-MAE (Fontaine & Nikolaidis 2023): the same emitters ranked by
  improvement (``imp``) over an archive whose cell thresholds move towards each new
  objective at ``learning_rate`` (0.01) from ``threshold_min = qd_offset``; the result
  archive keeps the elites;
* ``novelty`` -- novelty search: ``GaussianEmitter`` on a ``ProximityArchive``
  (k-NN novelty, add when novel enough), the result archive alongside (Lehman &
  Stanley 2011; the return plays no part in selection);
* ``serene`` -- SERENE (Paolo et al. 2021): novelty search explores; a solution whose
  return beats ``reward_threshold`` (default: the best return of the first batch, i.e.
  "better than anything random found") marks a reward area. The rule used here:
  while an exploiter is alive, iterations alternate explore / exploit (an even
  budget split); the exploiter is a CMA-ES ``EvolutionStrategyEmitter`` started at
  the best not-yet-exploited rewarding solution (ranked by return) adding to the result
  archive; it is dropped after ``exploit_patience`` exploit iterations without a new
  best return of its own, and the next rewarding solution from a cell not exploited yet
  starts the next one;
* ``random`` -- independent Gaussian parameter vectors: the baseline.

Per iteration ``metrics.csv`` gets ``iteration, evaluations, env_steps, coverage,
qd_score, best_return, ...`` (QD score = Σ over filled cells of ``return − offset``,
``offset`` the lowest return of the first batch unless given). ``state.pkl``
(archives, emitters with their RNGs, the descriptor, counters) is written
atomically after every iteration, so ``resume=True`` continues a killed search
exactly where its last completed iteration left it, and ``heatmap.png`` shows the
result archive (``ribs.visualize``).

Evaluations are batched (:func:`~rewardlab.qd.policies.rollout_many`: ``n_envs`` envs
step their own policies together, one batched matrix product per step), each from
its own start state (``starts="each"``: the seed of episode ``j`` of evaluation ``i``
is ``SeedSequence([seed, i, j])``), so results do not depend on how evaluations are
split: in this process (``workers=1``), over ``workers`` local processes
(``backend="local"``) or over Ray tasks (``backend="ray"``: a private local Ray
instance with ``workers`` CPUs, or a running cluster at ``address``).
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import multiprocessing
import os
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.config.registry import ConfigError, suggest
from rewardlab.qd.descriptors import Descriptor, parse_descriptor
from rewardlab.qd.policies import STARTS, Evaluation, FlatPolicy, rollout_many

ALGOS = ("map_elites", "cma_me", "cma_mae", "novelty", "serene", "random")
BACKENDS = ("local", "ray")
MUTATIONS = ("gaussian", "iso_line")
SELECTIONS = ("curiosity", "uniform")
STATE_FILE, METRICS_FILE, HEATMAP_FILE, ARCHIVE_FILE = "state.pkl", "metrics.csv", "heatmap.png", "archive.csv"
METRIC_FIELDS = (
    "iteration",
    "evaluations",
    "env_steps",
    "coverage",
    "filled_cells",
    "qd_score",
    "best_return",
    "novelty_archive",
    "phase",
    "exploiters",
)


@dataclass
class SearchConfig:
    """Settings of one search (stored in ``state.pkl``; a resume must use the same ones)."""

    env_id: str
    descriptor: Any = "final"  # a descriptor string (module:function included), a Descriptor or a callable
    algo: str = "map_elites"
    batch_size: int = 32
    policy_hidden: int = 0
    sigma: float = 0.5
    cells: int = 20
    max_grid_dims: int = 3
    k: int = 15
    novelty_threshold: float = 0.05
    episodes: int = 1  # per evaluation: return and descriptor are means over them
    starts: str = "each"  # "each": every episode its own start seed; "fixed": episode j of all evaluations the same
    mutation: str = "gaussian"  # map_elites: "gaussian" or "iso_line" (Iso+LineDD)
    line_sigma: float = 0.2  # iso_line: scale of the step along the line between two elites
    selection: str = "curiosity"  # map_elites' parents: "curiosity" (Cully & Demiris 2018) or "uniform" (pyribs')
    emitters: int = 1  # emitters of map_elites / cma_me / cma_mae, each asking batch_size solutions
    learning_rate: float = 0.01  # cma_mae's archive learning rate
    n_envs: int = 64  # envs stepping together in one process
    max_steps: int | None = None
    seed: int = 0
    qd_offset: float | None = None
    reward_threshold: float | None = None
    exploit_patience: int = 5
    es: str = "cma_es"  # cma_me / cma_mae's evolution strategy: any ribs ES name (cma_es, sep_cma_es, lm_ma_es, ...)
    exploit_es: str = "cma_es"  # serene's exploiter: any ribs ES name (cma_es, sep_cma_es, lm_ma_es, openai_es)
    ae_every: int = 5

    def check(self) -> None:
        if self.algo not in ALGOS:
            hint = suggest(self.algo, list(ALGOS))
            raise ConfigError(f"unknown QD algorithm {self.algo!r}{hint}; valid: {list(ALGOS)}")
        for name in ("batch_size", "cells", "k", "episodes", "exploit_patience", "ae_every", "emitters", "n_envs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.sigma > 0:
            raise ConfigError(f"sigma must be > 0, got {self.sigma!r}")
        if self.mutation not in MUTATIONS:
            hint = suggest(self.mutation, list(MUTATIONS))
            raise ConfigError(f"unknown mutation {self.mutation!r}{hint}; valid: {list(MUTATIONS)}")
        if self.selection not in SELECTIONS:
            hint = suggest(self.selection, list(SELECTIONS))
            raise ConfigError(f"unknown selection {self.selection!r}{hint}; valid: {list(SELECTIONS)}")
        if self.starts not in STARTS:
            raise ConfigError(
                f"unknown starts {self.starts!r}{suggest(self.starts, list(STARTS))}; valid: {list(STARTS)}"
            )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.algo == "cma_mae" and self.qd_offset is None:
            raise ConfigError("cma_mae needs qd_offset (its archive's threshold_min, e.g. --qd-offset -100)")
        if self.algo == "cma_mae" and not 0 < self.learning_rate <= 1:
            raise ConfigError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")


def check_env(env_id: str) -> Any:
    """A fresh env of ``env_id`` (one-line ``ConfigError`` listing the presets when the id is unknown)."""
    from rewardlab.envs import get_preset, make_env

    try:
        get_preset(env_id)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    try:
        return make_env(env_id)
    except Exception as err:  # noqa: BLE001 - missing dependencies (Box2D, nle) and the like: one line
        raise ConfigError(f"cannot make {env_id}: {err}") from err


class Evaluator:
    """Roll out batches of solutions: in this process, on local worker processes or as Ray tasks.

    ``evaluator(solutions, first_index)`` returns one :class:`~rewardlab.qd.policies.Evaluation` per row;
    ``first_index`` is the global index of the first row (it picks the start seeds), so the answer does not
    depend on ``workers`` or ``backend``. Local workers are spawned (torch and numba do not survive a fork
    with threads) and keep their envs between calls; the Ray backend starts a private local instance with
    ``workers`` CPUs (or joins ``address``), as the sweep runner does, and stops it at :meth:`close`.
    """

    def __init__(
        self,
        env_id: str,
        policy: FlatPolicy,
        *,
        workers: int = 1,
        backend: str = "local",
        address: str | None = None,
        **rollout_kwargs: Any,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}{suggest(backend, list(BACKENDS))}; valid: {list(BACKENDS)}")
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        if address and backend != "ray":
            raise ConfigError("--address is for a Ray cluster; use it with --backend ray")
        self.env_id, self.policy, self.workers, self.backend = env_id, policy, workers, backend
        self.kwargs = rollout_kwargs
        self.pool: cf.ProcessPoolExecutor | None = None
        self.ray: Any = None
        if backend == "ray":
            try:
                import ray
            except ImportError as err:
                raise ConfigError("the Ray backend needs Ray: pip install 'rewardlab[ray]'") from err
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            self.ray = ray
            self.task = ray.remote(num_cpus=1, max_retries=2)(rollout_many)
        elif workers > 1:
            self.pool = cf.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
            )

    def _chunks(self, solutions: np.ndarray, first_index: int) -> list[tuple[int, np.ndarray]]:
        bounds = np.linspace(0, len(solutions), self.workers + 1).astype(int)
        return [(first_index + a, solutions[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def __call__(self, solutions: np.ndarray, first_index: int = 0) -> list[Evaluation]:
        if self.ray is not None:
            refs = [
                self.task.remote(self.env_id, self.policy, chunk, first_index=i, **self.kwargs)
                for i, chunk in self._chunks(solutions, first_index)
            ]
            return [r for part in self.ray.get(refs) for r in part]
        if self.pool is None:
            return rollout_many(self.env_id, self.policy, solutions, first_index=first_index, **self.kwargs)
        futures = [
            self.pool.submit(rollout_many, self.env_id, self.policy, chunk, first_index=i, **self.kwargs)
            for i, chunk in self._chunks(solutions, first_index)
        ]
        return [r for f in futures for r in f.result()]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
        if self.ray is not None:
            self.ray.shutdown()
            self.ray = None


def _init_worker() -> None:
    import signal

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool


class QDSearch:
    """One search: build with a :class:`SearchConfig` and an output folder, then :meth:`run`."""

    def __init__(
        self,
        config: SearchConfig,
        out: str | Path,
        *,
        workers: int = 1,
        backend: str = "local",
        address: str | None = None,
    ) -> None:
        config.check()
        self.config, self.out, self.workers = config, Path(out), workers
        self.backend, self.address = backend, address
        env = check_env(config.env_id)
        from rewardlab.envs import get_preset

        self.descriptor: Descriptor = parse_descriptor(config.descriptor, seed=config.seed)
        self.descriptor.bind(
            observation_space=env.observation_space,
            obs_names=get_preset(config.env_id).obs_names,
            env_id=config.env_id,
        )
        try:
            self.policy = FlatPolicy.for_spaces(env.observation_space, env.action_space, hidden=config.policy_hidden)
        except ValueError as err:
            raise ConfigError(f"{config.env_id}: {err}") from err
        env.close()
        self.iteration = 0
        self.evaluations = 0
        self.env_steps = 0
        self.offset: float | None = config.qd_offset
        self.reward_threshold: float | None = config.reward_threshold
        self.sources: np.ndarray | None = None  # learned descriptor: the sources of recent evaluations
        self.exploiter: dict[str, Any] | None = None
        self.exploited_cells: set[int] = set()
        self._build_archives()

    # -- archives and emitters ---------------------------------------------------------
    def _extra_fields(self) -> dict[str, Any] | None:
        if self.descriptor.learns:
            return {"source": ((len(self.descriptor.dims),), np.float32)}  # type: ignore[arg-type]
        return None

    def _grid(self, **kwargs: Any) -> Any:
        """A ``GridArchive`` with ``cells`` per descriptor dim over ``[0, 1]`` (a ``CVTArchive`` past
        ``max_grid_dims`` dims)."""
        from ribs.archives import CVTArchive, GridArchive

        c, m, n = self.config, self.descriptor.dim, self.policy.n_params
        ranges = [(0.0, 1.0)] * m
        extra = self._extra_fields()
        if m <= c.max_grid_dims:
            return GridArchive(
                solution_dim=n, dims=[c.cells] * m, ranges=ranges, seed=c.seed, extra_fields=extra, **kwargs
            )
        centroids = np.random.default_rng(c.seed).random((c.cells, m))
        return CVTArchive(solution_dim=n, centroids=centroids, ranges=ranges, seed=c.seed, extra_fields=extra, **kwargs)

    def _build_archives(self) -> None:
        from ribs.archives import ProximityArchive
        from ribs.emitters import EvolutionStrategyEmitter, GaussianEmitter, IsoLineEmitter
        from ribs.schedulers import Scheduler

        from rewardlab.qd.emitters import CuriosityEmitter

        c, m, n = self.config, self.descriptor.dim, self.policy.n_params
        extra = self._extra_fields()
        self.result = self._grid()
        self.novelty_archive = None
        self.scheduler = None
        x0 = np.zeros(n)
        if c.algo in ("novelty", "serene"):
            self.novelty_archive = ProximityArchive(
                solution_dim=n,
                measure_dim=m,
                k_neighbors=c.k,
                novelty_threshold=c.novelty_threshold,
                seed=c.seed,
                extra_fields=extra,
            )
            emitter = GaussianEmitter(
                self.novelty_archive, sigma=c.sigma, x0=x0, batch_size=c.batch_size, seed=c.seed + 1
            )
            self.scheduler = Scheduler(self.novelty_archive, [emitter], result_archive=self.result)
        elif c.algo == "map_elites":
            line = c.mutation == "iso_line"
            if c.selection == "curiosity":
                kind: Any = CuriosityEmitter
                sigmas = {"sigma": c.sigma, "line_sigma": c.line_sigma if line else 0.0}
            else:
                kind = IsoLineEmitter if line else GaussianEmitter
                sigmas = {"iso_sigma": c.sigma, "line_sigma": c.line_sigma} if line else {"sigma": c.sigma}
            emitters = [
                kind(self.result, **sigmas, x0=x0, batch_size=c.batch_size, seed=c.seed + 1 + e)
                for e in range(c.emitters)
            ]
            self.scheduler = Scheduler(self.result, emitters)
        elif c.algo in ("cma_me", "cma_mae"):
            mae = c.algo == "cma_mae"
            archive = self._grid(learning_rate=c.learning_rate, threshold_min=c.qd_offset) if mae else self.result
            emitters = [
                EvolutionStrategyEmitter(
                    archive,
                    x0=x0,
                    sigma0=c.sigma,
                    ranker="imp" if mae else "2imp",
                    es=c.es,
                    selection_rule="mu" if mae else "filter",
                    restart_rule="basic" if mae else "no_improvement",
                    batch_size=c.batch_size,
                    seed=c.seed + 1 + e,
                )
                for e in range(c.emitters)
            ]
            self.scheduler = Scheduler(archive, emitters, result_archive=self.result if mae else None)
        self.rng = np.random.default_rng(c.seed + 2)

    def _start_exploiter(self, solution: np.ndarray, best: float) -> None:
        from ribs.emitters import EvolutionStrategyEmitter
        from ribs.schedulers import Scheduler

        c = self.config
        emitter = EvolutionStrategyEmitter(
            self.result,
            x0=solution,
            sigma0=c.sigma / 2,
            ranker="obj",
            es=c.exploit_es,
            restart_rule="basic",
            batch_size=c.batch_size,
            seed=int(self.rng.integers(2**31)),
        )
        self.exploiter = {"scheduler": Scheduler(self.result, [emitter]), "best": best, "stale": 0}

    # -- one iteration -------------------------------------------------------------------
    def _describe(self, results: list[Evaluation]) -> tuple[np.ndarray, np.ndarray | None]:
        """Descriptor (mean over episodes) and learned-descriptor sources of each result."""
        episodes = self.config.episodes
        flat = [episode for r in results for episode in r.episodes]
        desc = self.descriptor.of_episodes(flat).reshape(len(results), episodes, -1).mean(axis=1)
        sources = self.descriptor.sources([e.observations for e in flat])
        if sources is not None:
            sources = sources.reshape(len(results), episodes, -1).mean(axis=1)
        return desc, sources

    def _phase(self) -> str:
        if self.config.algo == "serene" and self.exploiter is not None and self.iteration % 2 == 1:
            return "exploit"
        return "explore" if self.config.algo in ("novelty", "serene") else self.config.algo

    def step(self, evaluate: Callable[[np.ndarray, int], list[Evaluation]]) -> dict[str, Any]:
        """Ask, evaluate, tell: one iteration; returns its metrics row."""
        c = self.config
        phase = self._phase()
        if phase == "random":
            solutions = self.rng.normal(0.0, c.sigma, (c.batch_size, self.policy.n_params))
        elif phase == "exploit":
            solutions = self.exploiter["scheduler"].ask()  # type: ignore[index]
        else:
            solutions = self.scheduler.ask()  # type: ignore[union-attr]
        results = evaluate(solutions, self.evaluations)
        returns = np.array([r.ret for r in results])
        measures, sources = self._describe(results)
        extra = {"source": sources} if sources is not None else {}
        if self.offset is None:
            self.offset = float(returns.min())
        if self.reward_threshold is None:
            self.reward_threshold = float(returns.max())
        if phase == "random":
            self.result.add(solutions, returns, measures, **extra)
        elif phase == "exploit":
            self.exploiter["scheduler"].tell(returns, measures, **extra)  # type: ignore[index]
            if returns.max() > self.exploiter["best"]:  # type: ignore[index]
                self.exploiter.update(best=float(returns.max()), stale=0)  # type: ignore[union-attr]
            else:
                self.exploiter["stale"] += 1  # type: ignore[index]
                if self.exploiter["stale"] >= c.exploit_patience:  # type: ignore[index]
                    self.exploiter = None
        else:
            self.scheduler.tell(returns, measures, **extra)  # type: ignore[union-attr]
        if c.algo == "serene" and self.exploiter is None:
            self._maybe_start_exploiter()
        self.iteration += 1
        self.evaluations += len(solutions)
        self.env_steps += int(sum(r.steps for r in results))
        if self.descriptor.learns:
            self._learn(sources)  # type: ignore[arg-type]
        return self.metrics(phase)

    def _maybe_start_exploiter(self) -> None:
        """SERENE: start CMA-ES at the best rewarding elite of a cell not exploited yet (see the module docs)."""
        data = self.result.data(["solution", "objective", "index"])
        if len(data["objective"]) == 0:
            return
        rewarding = data["objective"] > self.reward_threshold
        fresh = rewarding & ~np.isin(data["index"], list(self.exploited_cells))
        if not fresh.any():
            return
        best = np.flatnonzero(fresh)[np.argmax(data["objective"][fresh])]
        self.exploited_cells.add(int(data["index"][best]))
        self._start_exploiter(np.asarray(data["solution"][best]), float(data["objective"][best]))

    def _learn(self, sources: np.ndarray) -> None:
        """TAXONS: keep recent sources; every ``ae_every`` iterations retrain and re-describe the archives."""
        recent = sources if self.sources is None else np.concatenate([self.sources, sources])
        self.sources = recent[-5000:]
        if self.iteration % self.config.ae_every:
            return
        self.descriptor.fit(self.sources)
        own = getattr(self.scheduler, "archive", None)  # cma_mae: its thresholded archive
        for archive in {id(a): a for a in (self.result, self.novelty_archive, own) if a is not None}.values():
            if archive.empty:
                continue
            data = archive.data(["solution", "objective", "source"])
            archive.clear()
            measures = self.descriptor.encode(data["source"])  # type: ignore[attr-defined]
            archive.add(data["solution"], data["objective"], measures, source=data["source"])

    def metrics(self, phase: str) -> dict[str, Any]:
        stats = self.result.stats
        objectives = self.result.data("objective")
        qd = float(np.sum(objectives - self.offset)) if len(objectives) else 0.0
        return {
            "iteration": self.iteration,
            "evaluations": self.evaluations,
            "env_steps": self.env_steps,
            "coverage": float(stats.coverage),
            "filled_cells": int(stats.num_elites),
            "qd_score": qd,
            "best_return": float(stats.obj_max) if stats.num_elites else float("nan"),
            "novelty_archive": len(self.novelty_archive) if self.novelty_archive is not None else 0,
            "phase": phase,
            "exploiters": len(self.exploited_cells),
        }

    # -- saving, resuming, running ----------------------------------------------------------
    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.out / (STATE_FILE + ".tmp")
        state = {k: v for k, v in self.__dict__.items() if k not in ("out", "workers", "backend", "address")}
        state["config"] = asdict(self.config)
        with open(tmp, "wb") as fh:
            pickle.dump(state, fh)
        os.replace(tmp, self.out / STATE_FILE)

    @classmethod
    def resume(
        cls,
        out: str | Path,
        *,
        workers: int = 1,
        config: SearchConfig | None = None,
        backend: str = "local",
        address: str | None = None,
    ) -> QDSearch:
        """Load the search saved in ``out``; ``config`` (if given) must match the saved one."""
        path = Path(out) / STATE_FILE
        if not path.exists():
            raise ConfigError(f"nothing to resume: no {STATE_FILE} in {out}")
        state = _load_state(path)
        saved = SearchConfig(**state.pop("config"))
        if config is not None:
            diff = [f.name for f in fields(SearchConfig) if getattr(config, f.name) != getattr(saved, f.name)]
            if diff:
                raise ConfigError(f"--resume with settings that differ from the saved search in {out}: {diff}")
        search = cls.__new__(cls)
        search.__dict__.update(state)
        search.config, search.out, search.workers = saved, Path(out), workers
        search.backend, search.address = backend, address
        return search

    def run(self, iterations: int, *, progress: bool = True, plot_every: int = 10) -> list[dict[str, Any]]:
        """Run until ``iterations`` iterations are done in total (a resumed search continues its count)."""
        from rewardlab.progress import progress_bar

        self.out.mkdir(parents=True, exist_ok=True)
        _trim_metrics(self.out / METRICS_FILE, self.iteration)
        rows = []
        evaluator = self.evaluator()
        bar = progress_bar(
            total=iterations, initial=self.iteration, enabled=progress, desc=f"qd {self.config.algo}", unit="iteration"
        )
        try:
            while self.iteration < iterations:
                row = self.step(evaluator)
                _append_metrics(self.out / METRICS_FILE, row)
                self.save()
                if plot_every and self.iteration % plot_every == 0:
                    self.save_heatmap()
                rows.append(row)
                bar.update(1)
                bar.set_postfix(cov=f"{row['coverage']:.2f}", best=f"{row['best_return']:.1f}")
        finally:
            bar.close()
            evaluator.close()
        self.save_heatmap()
        self.result.data(return_type="pandas").to_csv(self.out / ARCHIVE_FILE, index=False)
        return rows

    def evaluator(self) -> Evaluator:
        """An :class:`Evaluator` for this search's settings, workers and backend (close it when done)."""
        c = self.config
        return Evaluator(
            c.env_id,
            self.policy,
            workers=self.workers,
            backend=self.backend,
            address=self.address,
            seed=c.seed,
            episodes=c.episodes,
            max_steps=c.max_steps,
            starts=c.starts,
            n_envs=c.n_envs,
            record_actions=self.descriptor.needs_actions,
        )

    def save_heatmap(self, path: str | Path | None = None) -> Path:
        """The result archive as a PNG (written without touching pyplot's current figure or backend)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 4))
        ax = fig.add_subplot()
        plot_archive(self, ax=ax)
        path = Path(path) if path is not None else self.out / HEATMAP_FILE
        fig.savefig(path, dpi=80, bbox_inches="tight")
        return path


def plot_archive(search: QDSearch, *, ax: Any) -> Any:
    """Heatmap of the result archive's returns (``ribs.visualize``); parallel axes above 2 descriptor dims."""
    from ribs.archives import GridArchive
    from ribs.visualize import cvt_archive_heatmap, grid_archive_heatmap, parallel_axes_plot

    archive, labels = search.result, search.descriptor.labels
    colour = {"cbar_kwargs": {"label": "episode return (best in the cell)"}}
    if archive.measure_dim > 2:
        parallel_axes_plot(archive, ax=ax, **colour)
    elif isinstance(archive, GridArchive):
        grid_archive_heatmap(archive, ax=ax, **colour)
    else:
        cvt_archive_heatmap(archive, ax=ax, **colour)
    ax.set_xlabel(labels[0] if labels else "")
    if archive.measure_dim == 2:
        ax.set_ylabel(labels[1])
    ax.set_title(f"{search.config.env_id} {search.config.algo}: iteration {search.iteration}")
    return ax


def _append_metrics(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _trim_metrics(path: Path, iteration: int) -> None:
    """Drop rows past the saved iteration (written by a search killed before it saved its state)."""
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["iteration"]) <= iteration]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def read_metrics(out: str | Path) -> list[dict[str, Any]]:
    """The metrics rows of a search folder, numbers parsed."""
    with open(Path(out) / METRICS_FILE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: (v if k == "phase" else float(v)) for k, v in r.items()} for r in rows]


def _load_state(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        state = pickle.load(fh)  # noqa: S301 - our own file, written by save()
    state["config"].setdefault("selection", "uniform")  # saved before curiosity selection: pyribs' emitters
    return state


def saved_config(out: str | Path) -> SearchConfig | None:
    """The settings of the search saved in ``out``, or None when there is none."""
    path = Path(out) / STATE_FILE
    return SearchConfig(**_load_state(path)["config"]) if path.exists() else None


def run_search(
    config: SearchConfig,
    out: str | Path,
    *,
    iterations: int,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    resume: bool = False,
    progress: bool = True,
    plot_every: int = 10,
) -> QDSearch:
    """Build (or resume) a search in ``out`` and run it to ``iterations`` iterations."""
    where = {"workers": workers, "backend": backend, "address": address}
    if resume:
        search = QDSearch.resume(out, config=config, **where)
    else:
        if (Path(out) / STATE_FILE).exists():
            raise ConfigError(f"{out} already holds a search: pass --resume to continue it or pick another --out")
        search = QDSearch(config, out, **where)
    search.run(iterations, progress=progress, plot_every=plot_every)
    return search
