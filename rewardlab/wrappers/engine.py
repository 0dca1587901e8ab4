"""What both wrappers share: evaluate the reward, guard it, log it, feed learners.

The engine turns a batch of transitions into the reward the agent sees. It

* evaluates every component in one pass (a term object used twice in the
  reward is computed once) and checks every component and the total: NaN,
  ±inf, and a finite sum that overflows or leaves float32's range (SB3
  stores rewards as float32) never reach the agent silently;
* writes the extrinsic reward and each component into ``info["rewardlab"]``
  and, at the end of an episode, the episode sums of every component and the
  true (extrinsic) return into ``info["rewardlab_episode"]``;
* resets episodic state of finished envs;
* buffers transitions for terms that learn and calls their ``update`` every
  ``update_every`` steps (a learning term used twice trains once).

The engine keeps the batches it buffers: the wrappers hand it observations
they own (copies), never views of buffers an env may overwrite.

Lean by design (it runs on every env step; ``benchmarks/bench_wrapper_overhead.py``
measures it): the reward writes each step into the rows of one
``(k + 2, n)`` array the engine reuses (components, extrinsic reward, total),
the terms of a plain weighted sum are called into their rows directly, one
numba call sums, checks and books the step, and the per-step info views read
one copy of that array made once per step.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from sys import getrefcount
from typing import Any, Literal

import numpy as np

from rewardlab.core.term import RewardTerm, WeightedSum, shared_terms, unique_names
from rewardlab.core.transitions import Transitions
from rewardlab.wrappers.fused import FusedStep
from rewardlab.wrappers.kernels import FLOAT32_MAX, accumulate_step

NAN_POLICIES = ("raise", "zero", "clip")
NanPolicy = Literal["raise", "zero", "clip"]
STEP_KEY = "rewardlab"
EPISODE_KEY = "rewardlab_episode"


MAX_CLIP_VALUE = 1e30  # clipped components must sum to a float32 total
MAX_ENVS_SHOWN = 4  # envs whose values an error message lists


class NonFiniteRewardError(FloatingPointError):
    """A reward term produced NaN or ±inf, or the total overflowed; the message names the terms, envs and values.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> bad = rl.function(lambda next_obs: np.full(len(next_obs), np.nan), name="bad")
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=1), bad)
        >>> _ = venv.reset()
        >>> try:
        ...     venv.step(np.array([0]))
        ... except rl.NonFiniteRewardError as err:
        ...     print(type(err).__name__)
        NonFiniteRewardError
    """


class StepRewards(Mapping):
    """``info["rewardlab"]`` of one env: each component's value, ``extrinsic_reward`` and ``total``.

    A read-only mapping that materialises a value only when it is read. The
    step is one ``(k + 2, n)`` array (the components, the extrinsic reward and
    the total of every env) shared by the step's envs, with the row of each key:
    ``step = (rows, array)``, made once per step; each env's view holds that pair
    and its env's index, so writing the views costs one small object per env, or
    none (the engine hands out again a view nobody holds any more:
    :class:`StepViews`).
    """

    __slots__ = ("_step", "_env")

    def __init__(self, step: tuple[dict[str, int], np.ndarray] | None, env: int) -> None:
        self._step, self._env = step, env

    def __getitem__(self, key: str) -> float:
        rows, step = self._step
        return float(step[rows[key], self._env])

    def __iter__(self) -> Iterator[str]:
        return iter(self._step[0])

    def __len__(self) -> int:
        return len(self._step[0])

    def __contains__(self, key: object) -> bool:
        return key in self._step[0]

    def __repr__(self) -> str:
        return f"StepRewards({dict(self)})"


def _unheld_refcount() -> int:
    """What :func:`sys.getrefcount` says of a view that only :class:`StepViews`' list and the loop hold."""
    views = [StepRewards(None, 0)]
    for i, _info in enumerate([{}]):  # as in StepViews.hand_out
        view = views[i]
        return getrefcount(view)
    raise AssertionError  # pragma: no cover


class StepViews:
    """The ``info["rewardlab"]`` views of each step, made as few times as it takes.

    A step's views must outlive it (SB3's loop and callbacks still hold the last step's infos when the next step
    runs), and a view is one small object per env per step, about a quarter of the engine's own time on a
    MuJoCo step. So the views of the step before last are handed out again when nothing but this object holds
    them any more (their reference count says so: the infos they went into are gone), pointing to the new
    step's array; a view someone still holds (a kept ``info`` dict, a kept view) is left alone, and a new one
    takes its place. Nobody can tell the difference: a view nobody holds cannot be read.
    """

    UNHELD = _unheld_refcount()

    def __init__(self, n_envs: int) -> None:
        self._sets = [StepRewards(None, i) for i in range(n_envs)], [StepRewards(None, i) for i in range(n_envs)]
        self._turn = 0

    def hand_out(self, step: tuple[dict[str, int], np.ndarray], infos: Sequence[dict]) -> None:
        """Write a view of env ``i``'s values in ``step`` (``(rows, array)``) into ``infos[i][STEP_KEY]``."""
        self._turn = turn = 1 - self._turn
        views, unheld = self._sets[turn], self.UNHELD  # handed out two steps ago
        for i, info in enumerate(infos):  # (_unheld_refcount counts the references of this loop's view)
            view = views[i]
            if getrefcount(view) == unheld:
                view._step = step
            else:  # still held: leave it, and hand out a new one from now on
                view = views[i] = StepRewards(step, i)
            info[STEP_KEY] = view


class RewardEngine:
    """Evaluate ``reward`` on batches from ``n_envs`` envs and keep episode sums.

    Args:
        reward: the reward term (usually a weighted sum).
        n_envs: number of envs in each batch.
        nan_policy: what to do with a non-finite component, or a total that
            is not finite or beyond float32's range (±3.4e38) although its
            components are finite. ``"raise"`` (default) stops with
            :class:`NonFiniteRewardError` naming the terms, envs and values;
            ``"zero"`` warns once and replaces a bad component with 0, and
            every component of an env whose total overflows with 0;
            ``"clip"`` warns once, maps NaN to 0 and ±inf to ±``clip_value``,
            and clips every component of an env whose total overflows to
            ``±clip_value``. Episode sums add the values the agent received.
        clip_value: bound used by ``nan_policy="clip"`` (at most 1e30).
        update_every: steps between ``update`` calls of learning terms.
        step_info: write per-step values into ``info`` (episode sums are always written).

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.wrappers import RewardEngine
        >>> engine = RewardEngine(rl.extrinsic() + rl.constant(-0.5), n_envs=2)
        >>> engine.process(rl.Transitions.fake(reward=[1.0, 0.0]))
        array([ 0.5, -0.5])
    """

    #: steps with the terms' step kernels called one by one (:meth:`step_arrays`) before the engine compiles
    #: them into one call per step (about a second of numba compilation, once per process and reward; short runs
    #: and tests never pay it); ``None``: never fuse
    fuse_after: int | None = 500
    #: whether the caller vouches that the arrays it hands :meth:`step_fast` keep their types (dtype,
    #: dimensions, layout) from step to step: then the common step calls numba's compiled code without its
    #: dispatcher (:attr:`FusedStep.call <rewardlab.wrappers.fused.FusedStep.call>`). The vector wrapper sets it
    #: over SB3's ``DummyVecEnv``, whose arrays are copies of fixed buffers, and calls :meth:`inputs_changed`
    #: when it restores previous observations
    steady_inputs: bool = False
    #: whether the caller hands :meth:`step_fast` a reward array that is its own fresh copy, which nobody else
    #: holds: the engine then writes the totals into it and returns it (one array fewer made per step; the
    #: kernels read each env's reward before its total is written). The vector wrapper sets it over SB3's
    #: ``DummyVecEnv``, which copies its rewards out of a buffer on every step
    totals_in_reward: bool = False

    def __init__(
        self,
        reward: RewardTerm,
        n_envs: int,
        *,
        nan_policy: NanPolicy = "raise",
        clip_value: float = 1e3,
        update_every: int = 128,
        step_info: bool = True,
    ) -> None:
        if not isinstance(reward, RewardTerm):
            raise TypeError(f"reward must be a RewardTerm (build one with rewardlab), got {type(reward).__name__}")
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"unknown nan_policy {nan_policy!r}; valid: {list(NAN_POLICIES)}")
        if update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {update_every}")
        if not 0.0 < clip_value <= MAX_CLIP_VALUE:
            raise ValueError(f"clip_value must be in (0, {MAX_CLIP_VALUE:g}], got {clip_value}")
        self.reward = reward
        self.n_envs = n_envs
        self.nan_policy = nan_policy
        self.clip_value = float(clip_value)
        self.update_every = update_every
        self.step_info = step_info
        self.names = unique_names(reward.component_names())  # a lone term named "total" is logged as "total_2"
        self._learns = reward.learns
        # batches outlive the step only for learning terms whose update() reads them
        self._buffers = any(t.learns and t.update_reads_batch for t in reward.leaves())
        self._steps_since_update = 0
        self._shared = [id(t) for t in shared_terms(reward)]
        # frames are large: buffer them for learners only when a learning term reads them
        self._buffer_frames = any(t.learns and t.needs_frames for t in reward.leaves())
        self._k = k = len(self.names)
        # one array holds the step (the k components, rows as names, the extrinsic reward and the total of every
        # env: the reward writes into the same rows every step, step info copies it), the running episode sums
        # (each component, the true return, the length; see get_state) and the kernel's records of the episodes
        # that end (sums, true return, total, length, env): one argument of the per-step kernel
        self._state = np.zeros((3 * k + 8, n_envs))
        self._make_views()
        # what resets at an episode end: the terms of a plain sum that have episodic state (a sum's reset only
        # forwards to its terms), else the reward when some term of it does (RewardTerm.resets_episodes)
        if self._plain_sum and type(reward).reset is WeightedSum.reset:
            self._resets = [t for t in reward.terms if t.resets_episodes]
        else:
            self._resets = [reward] if reward.resets_episodes else []
        #: row of each key of ``info["rewardlab"]`` in the step's array (the components, then extrinsic_reward, total)
        self._rows = {**{name: j for j, name in enumerate(self.names)}, "extrinsic_reward": k, "total": k + 1}
        self._episode_keys = [*self.names, "true_return", "total", "length"]
        self._buffer: list[Transitions] = []
        self.last_update_metrics: dict[str, float] = {}
        self._last: np.ndarray | None = None  # the last step's array (a copy when step info holds it)
        #: the first env's info dict of the last step, and the ``info["rewardlab_episode"]`` dicts written into
        #: the step's infos (env order; empty when no episode ended): a logger holding a step's infos reads its
        #: episode ends without scanning every env's info when ``infos[0] is engine.last_info``. Only the first
        #: dict is kept: the whole list, kept until the next step, was freed inside that step (about 0.6 µs of
        #: the engine's own time on a MuJoCo step, when the caller had dropped it)
        self.last_info: dict | None = None
        self.last_episodes: Sequence[dict] = ()
        #: ``update`` calls so far (replay-buffer relabelling watches it; see :mod:`rewardlab.relabel`)
        self.updates = 0
        self._warned: set[str] = set()

    def _make_views(self) -> None:
        """The views of the state array the step writes through, and the terms' rows (made once, not per step)."""
        k, reward = self._k, self.reward
        self._step = self._state[: k + 2]
        self._components = self._step[:k]
        self._sums = self._state[k + 2 : 2 * k + 4]
        self._records = self._state[2 * k + 4 :].T  # a row per finished env: sums, true return, total, length, env
        # a weighted sum of one-row terms, none shared (the common reward): the engine calls each term into its row
        self._plain_sum = isinstance(reward, WeightedSum) and (
            type(reward).components_into is WeightedSum.components_into
        )
        self._row_calls = reward.row_calls(self._components) if self._plain_sum and not self._shared else None
        if type(reward).components_into is RewardTerm.components_into:  # one plain term: its row
            self._row_calls = [(self._components[0], 1.0, reward)]
        self._plan: FusedStep | None | bool = False  # the terms' step kernels, asked at the first step_arrays
        self._fast: FusedStep | None = None  # the plan once compiled (what step_fast calls), else None
        self._plan_epoch = RewardTerm.state_epoch
        self._kernel_steps = 0  # steps on the kernels called one by one (they fuse after fuse_after)
        self._views = StepViews(self.n_envs)  # info["rewardlab"] of each step

    def __getstate__(self) -> dict[str, Any]:
        # the views share the state array: a copy (pickle, deepcopy) keeps the array and makes them again
        state = self.__dict__.copy()
        for name in ("_step", "_components", "_sums", "_records", "_row_calls", "_last", "_plan", "_fast", "_views"):
            del state[name]
        state["_last"] = None if self._last is None or self._last.base is self._state else self._last
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._shared = [id(t) for t in shared_terms(self.reward)]  # the copied terms' ids
        self._make_views()
        if self._last is None and self.last_info is not None:
            self._last = self._step

    @property
    def last_values(self) -> np.ndarray | None:
        """The last step's weighted components ``(k, n_envs)`` (rows as :attr:`names`); None before the first.

        With ``step_info=False`` this is the engine's own array, overwritten by the next step: copy it to keep it.
        """
        return None if self._last is None else self._last[: self._k]

    @property
    def last_total(self) -> np.ndarray | None:
        """The last step's totals ``(n_envs,)`` (float64); like :attr:`last_values`, copy it to keep it."""
        return None if self._last is None else self._last[self._k + 1]

    @property
    def buffers_batches(self) -> bool:
        """Whether batches may ever outlive their step (some learning term's update reads them); fixed by the
        reward. When False, :attr:`keeps_batches` is always False."""
        return self._buffers

    @property
    def keeps_batches(self) -> bool:
        """Whether batches outlive the step (buffered for learning terms): then their arrays must be owned."""
        return self._buffers and self.reward.training

    def close(self) -> None:
        """Close every leaf term of the reward once (each term's ``close()``: worker threads, files)."""
        closed: set[int] = set()
        for term in self.reward.leaves():
            if id(term) not in closed:
                closed.add(id(term))
                term.close()

    def reset(self, env_indices: np.ndarray | None = None) -> None:
        """Start new episodes in ``env_indices`` (all envs when None)."""
        idx = np.arange(self.n_envs) if env_indices is None else env_indices
        self._sums[:, idx] = 0.0
        self.reward.reset(idx)
        if env_indices is None:  # a new start: the terms are asked again (a parameter may have been set since)
            self._plan = False
            self._fast = None

    def get_state(self) -> dict[str, Any]:
        """The engine's running state, copied: what resuming in the middle of episodes needs.

        ``episode_sums`` ``(k + 2, n_envs)``: each component's sum so far in
        every env's running episode (rows as :attr:`names`), then the true
        (extrinsic) return and the length; ``steps_since_update``, ``updates``
        and ``buffer`` (the batches kept for learning terms since their last
        update): where the update schedule stands. The terms' own state is
        not included (``reward.state_dict()``).
        """
        return {
            "names": list(self.names),
            "episode_sums": self._sums.copy(),
            "steps_since_update": self._steps_since_update,
            "updates": self.updates,
            "buffer": list(self._buffer),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (for the same reward and number of envs)."""
        sums = np.asarray(state["episode_sums"], dtype=np.float64)
        if list(state["names"]) != self.names or sums.shape != self._sums.shape:
            raise ValueError(
                f"engine state is for components {list(state['names'])} with episode sums of shape {sums.shape}; "
                f"this engine has {self.names} and shape {self._sums.shape}"
            )
        self._sums[...] = sums
        self._steps_since_update = int(state["steps_since_update"])
        self.updates = int(state["updates"])
        self._buffer = list(state["buffer"])

    def process(self, batch: Transitions, done: np.ndarray | None = None, *, dtype: Any = np.float64) -> np.ndarray:
        """Reward for ``batch`` (a new array of ``dtype``); annotates ``batch.infos`` and resets finished envs.

        ``done`` is ``batch.terminated | batch.truncated`` (a bool array) when the
        caller already has it, as the vector wrapper does (SB3's ``dones``); the
        vector wrapper asks for ``dtype=np.float32``, what SB3 stores (totals
        are checked to fit it).
        """
        extrinsic = batch.reward
        n = self.n_envs
        if len(extrinsic) != n:
            raise ValueError(f"the reward engine holds {n} envs but got a batch of {len(extrinsic)}")
        if done is None:
            done = batch.terminated | batch.truncated
        if self._shared:
            batch.memo = dict.fromkeys(self._shared)
        row_calls = self._row_calls
        if row_calls is None:
            self.reward.components_into(batch, self._components)
        else:
            for row, weight, term in row_calls:
                term.compute_into(batch, row, weight)
        total = np.empty(n, dtype)
        n_ended = accumulate_step(self._state, extrinsic, done, total)
        if n_ended < 0:
            self._repair(self._components)
            n_ended = accumulate_step(self._state, extrinsic, done, total)
            if n_ended < 0:  # pragma: no cover  (repaired components always sum within range)
                raise AssertionError("rewardlab: repaired reward components still overflow")
        self._book(n_ended, batch.terminated, batch.infos)
        if self._learns and self.reward.training:
            batch.memo = None
            if batch.frames is not None and not self._buffer_frames:
                batch = batch.without_frames()
            if self._buffers:
                self._buffer.append(batch)
            self._steps_since_update += 1
            if self._steps_since_update >= self.update_every:
                update_batch = Transitions.concatenate(self._buffer) if self._buffers else batch
                update_batch.memo = {}  # each learning term trains once, however often it appears
                self.last_update_metrics = self.reward.update(update_batch)
                self.updates += 1
                self._buffer.clear()
                self._steps_since_update = 0
        return total

    def step_arrays(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        next_obs: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        done: np.ndarray,
        infos: Sequence[dict],
        dtype: Any = np.float64,
    ) -> np.ndarray | None:
        """:meth:`process` on the step's bare arrays through the terms' :meth:`~RewardTerm.step_kernel`, without
        a :class:`Transitions` batch; None when the reward has no such path (the caller then calls ``process``).

        The path exists when every term of a plain sum (or the lone term) offers a ``step_kernel``, no term
        learns, none is shared and none needs frames; the vector wrapper takes it for array observations. The
        kernels are called one by one; after :attr:`fuse_after` such steps the engine compiles them and its
        own bookkeeping into one call (:mod:`rewardlab.wrappers.fused`). Same result, same state and same infos
        as :meth:`process` (``tests/test_engine_step_kernels.py`` checks the paths side by side).
        """
        plan = self._plan
        if plan is False or RewardTerm.state_epoch != self._plan_epoch:
            # the first step, or some term's mode or state changed (train/eval, load_state_dict), or a reset:
            # ask the terms (again) for their kernels and arguments
            plan = self._plan = self._ask_kernels(next_obs)
            if plan is not None and plan.fn is not None:  # compiled before (this reward in another wrapper)
                self._fast = plan
        if plan is None:
            return None
        total = np.empty(self.n_envs, dtype)
        if plan.fn is not None:  # one compiled call
            n_ended = plan.fn(self._state, obs, next_obs, reward, terminated, done, total, *plan.args)
        else:
            plan.call_each(self._state, obs, next_obs, reward, terminated)
            n_ended = accumulate_step(self._state, reward, done, total)
            self._kernel_steps += 1
            if self.fuse_after is not None and self._kernel_steps >= self.fuse_after:
                plan.compile()
                self._fast = plan
        if plan.syncs:  # e.g. a count bonus whose table needs room for the next step's keys
            plan.sync()
        if n_ended < 0:
            n_ended = self._repaired(reward, done, total)
        self._book(n_ended, terminated, infos)
        return total

    def step_fast(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: Sequence[dict],
        dtype: Any = np.float64,
    ) -> np.ndarray | None:
        """The common step of :meth:`step_arrays` (no episode ended, so ``terminated`` is ``done``) in one
        compiled call and as little Python as it takes; None, having changed nothing, when the caller must take
        the long way: some env's ``done`` is set (its terminal observation belongs in ``next_obs``), the
        reward has no fused step (yet), or the terms must be asked again. What the vector wrapper calls first.
        """
        plan = self._fast
        if plan is None or RewardTerm.state_epoch != self._plan_epoch:
            return None
        # the totals: into the env's reward array itself where the caller hands it over (steady inputs are
        # fresh copies nobody else holds; the kernels read each env's reward before its total is written)
        total = reward if self.totals_in_reward and reward.dtype is dtype else np.empty(self.n_envs, dtype)
        code = plan.call(self._state, obs, next_obs, reward, done, total, *plan.args)
        if code:  # 0: a common step, all done
            if code == -2:  # an episode ended: nothing was done
                return None
            plan.sync()
            if code < 0:  # a total out of range: the env's rewards are in the step's extrinsic row
                self._repaired(self._step[-2].copy() if total is reward else reward, done, total)
        # what _book does for a step where no episode ended, inlined
        self.last_info = infos[0]
        if self.step_info:  # a view per env of a copy of the step's rows (the views outlive the step)
            self._last = step = self._step.copy()
            self._views.hand_out((self._rows, step), infos)
        else:
            self._last = self._step
        if self.last_episodes:
            self.last_episodes = ()
        return total

    def inputs_changed(self) -> None:
        """The arrays the next :meth:`step_fast` gets may differ in type from the last ones' (restored previous
        observations): its compiled call finds its types again."""
        if self._fast is not None:
            self._fast.repin()

    def _repaired(self, reward: np.ndarray, done: np.ndarray, total: np.ndarray) -> int:
        """After the kernel found a total out of range: the nan policy on the components, then the bookkeeping
        again; the number of episodes that ended."""
        self._repair(self._components)
        n_ended = accumulate_step(self._state, reward, done, total)
        if n_ended < 0:  # pragma: no cover  (repaired components always sum within range)
            raise AssertionError("rewardlab: repaired reward components still overflow")
        return n_ended

    def _ask_kernels(self, obs: np.ndarray) -> FusedStep | None:
        """The terms' step kernels (:class:`~rewardlab.wrappers.fused.FusedStep`) when the reward is a plain sum
        (or one term) of terms that all offer one and none learns, is shared or needs frames; None otherwise."""
        self._plan_epoch = RewardTerm.state_epoch
        self._fast = None
        if self._row_calls is None or self._learns or self._shared or self.reward.needs_frames:
            return None
        plan = []
        for j, (_, weight, term) in enumerate(self._row_calls):
            kernel = term.step_kernel(obs)
            if kernel is None:  # e.g. a count bonus in evaluation mode
                return None
            plan.append((j, weight, kernel))
        return FusedStep(plan, steady=self.steady_inputs)

    def _book(self, n_ended: int, terminated: np.ndarray, infos: Sequence[dict]) -> None:
        """After the kernel: the step's ``info["rewardlab"]`` views, and the episodes that ended."""
        self.last_info = infos[0]
        if self.step_info:
            self._last = step = self._step.copy()  # the views outlive the step
            self._views.hand_out((self._rows, step), infos)
        else:
            self._last = self._step
        if n_ended:
            self._end_episodes(n_ended, terminated, infos)
        elif self.last_episodes:
            self.last_episodes = ()

    def _end_episodes(self, n_ended: int, terminated: np.ndarray, infos: Sequence[dict]) -> None:
        """Write ``info["rewardlab_episode"]`` of the envs whose episode ended and reset their terms."""
        keys = self._episode_keys  # one fewer than a record: zip leaves out the env index at its end
        records = self._records[:n_ended]
        self.last_episodes = episodes = []
        for row in records.tolist():
            i = int(row[-1])
            episode = dict(zip(keys, row))  # the components, true_return, total, length
            episode["length"] = int(row[-2])
            episode["terminated"] = bool(terminated.item(i))
            infos[i][EPISODE_KEY] = episode
            episodes.append(episode)
        if self._resets:  # only terms whose reset does something (RewardTerm.resets_episodes)
            ended_envs = records[:, -1].astype(np.int64)
            for term in self._resets:
                term.reset(ended_envs)

    def _repair(self, values: np.ndarray) -> None:
        """Apply the nan policy in place: first to non-finite components, then to totals out of float32's range."""
        bad = ~np.isfinite(values)
        if bad.any():
            culprits = [k for k in range(len(self.names)) if bad[k].any()]
            detail = "; ".join(
                f"{self.names[k]!r} in envs {np.flatnonzero(bad[k]).tolist()} "
                f"(values {_shown(values[k, bad[k]].tolist())})"
                for k in culprits
            )
            self._act(f"non-finite reward from {detail}", [self.names[k] for k in culprits])
            if self.nan_policy == "zero":
                values[bad] = 0.0
            else:
                np.nan_to_num(values, copy=False, nan=0.0, posinf=self.clip_value, neginf=-self.clip_value)
        with np.errstate(over="ignore", invalid="ignore"):
            totals = values.sum(axis=0)
        over = np.flatnonzero(~(np.abs(totals) <= FLOAT32_MAX))
        if over.size:
            detail = "; ".join(
                f"env {i}: "
                + " + ".join(f"{name!r} = {values[k, i]:g}" for k, name in enumerate(self.names))
                + f" = {totals[i]:g}"
                for i in over[:MAX_ENVS_SHOWN].tolist()
            ) + ("; ..." if over.size > MAX_ENVS_SHOWN else "")
            self._act(
                f"reward total out of range (|total| must be <= {FLOAT32_MAX:.4g}, float32's limit) in {detail}",
                ["total"],
            )
            if self.nan_policy == "zero":
                values[:, over] = 0.0
            else:
                values[:, over] = np.clip(values[:, over], -self.clip_value, self.clip_value)

    def _act(self, problem: str, culprits: list[str]) -> None:
        """Raise under ``nan_policy="raise"``; otherwise warn once per set of culprits."""
        if self.nan_policy == "raise":
            raise NonFiniteRewardError(
                f"{problem}. Fix the term, or pass nan_policy='zero' or 'clip' "
                "to the wrapper to replace such values (with a warning)."
            )
        key = ",".join(culprits)
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"{problem}; replaced ({self.nan_policy})", RuntimeWarning, stacklevel=4)


def _shown(values: list[float]) -> str:
    """The first few values of a list, for an error message."""
    more = ", ..." if len(values) > MAX_ENVS_SHOWN else ""
    return "[" + ", ".join(f"{v:g}" for v in values[:MAX_ENVS_SHOWN]) + more + "]"
