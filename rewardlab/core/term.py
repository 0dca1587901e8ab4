"""The reward term: a batched function of transitions, and their weighted sums.

A term maps a :class:`~rewardlab.core.transitions.Transitions` batch to one
float per env. Terms combine with ``+`` and scalar ``*`` into a
:class:`WeightedSum` that keeps every named component visible, so the wrapper
can log each term beside the total.

Life cycle (all optional):

* ``reset(env_indices)`` -- clear episodic state of the given envs;
* ``update(batch)`` -- learn online from a batch the wrapper collected
  (only called when ``learns`` is true);
* ``state_dict()`` / ``load_state_dict(state)`` -- checkpoint and restore;
* ``train(mode)`` -- freeze running statistics for evaluation;
* ``close()`` -- release threads and files (the wrappers call it on every leaf when they close).

Evaluation paths: ``compute(batch)`` (required), ``compute_into(batch, out, weight)`` (allocation-free) and
``step_kernel(obs)`` (optional): a numba kernel of the step's bare arrays that the vector wrapper calls on
every step, without building a :class:`Transitions` batch, when every term of the reward has one.

One term object, one evaluation per step: a term that appears more than once
in a reward (``0.05*c + 0.05*c``, ``c + clip(c)``) is computed once per batch
inside the wrappers and its value reused, and a learning term is updated once
per update batch. Weighted sums merge repeated objects into one component;
two distinct objects with the same name stay two terms (``count``, ``count_2``).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from rewardlab.core.env_info import EnvInfo
from rewardlab.core.transitions import Transitions


def _bumping(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` that also bumps :attr:`RewardTerm.state_epoch` (the terms' modes or arrays may change)."""

    @functools.wraps(method)
    def bumped(self: RewardTerm, *args: Any, **kwargs: Any) -> Any:
        RewardTerm.state_epoch += 1
        return method(self, *args, **kwargs)

    bumped._bumps_epoch = True  # type: ignore[attr-defined]
    return bumped


class StepKernel(NamedTuple):
    """A term's step as one compiled call the engine fuses with the other terms' (:meth:`RewardTerm.step_kernel`).

    The fused step calls ``fn(*inputs, *args, weight, out)`` (``weight`` only when ``takes_weight``; otherwise the
    engine multiplies ``out`` by the weight afterwards, as ``out *= weight``). ``inputs`` name the step's arrays
    it reads, in order: ``"obs"``, ``"next_obs"``, ``"reward"`` (the env's, as the vector env returned it),
    ``"terminated"``. ``sync``, when given, is called with ``fn``'s (integer) result after every step where it is not 0,
    and returns new ``args`` when they changed (a table that grew), else None. (The global count's kernel keeps
    its table's size in one of its ``args`` and returns 1 only when the table must grow: a common step then
    calls no Python of the term at all.)

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> kernel = rl.constant(-0.5).step_kernel(np.zeros((2, 4)))
        >>> kernel.inputs, kernel.args, kernel.takes_weight
        ((), (-0.5,), True)
        >>> out = np.empty(2)
        >>> kernel.fn(*kernel.args, 2.0, out)  # what the fused step calls: fn(*inputs, *args, weight, out)
        >>> out
        array([-1., -1.])
    """

    fn: Callable[..., Any]
    inputs: tuple[str, ...]
    args: tuple = ()
    takes_weight: bool = False
    sync: Callable[[int], tuple | None] | None = None


class RewardTerm:
    """Base class of every reward term.

    Subclasses implement :meth:`compute`; everything else has a sensible
    default. ``name`` is the label used in logs, info dicts and plots.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> class Speed(rl.RewardTerm):
        ...     name = "speed"
        ...     def compute(self, batch):
        ...         return np.abs(batch.next_obs[:, 1])
        >>> reward = rl.extrinsic() + 10.0 * Speed()
        >>> reward(rl.Transitions.fake(reward=[-1.0], next_obs=[[0.0, 0.02]]))
        array([-0.8])
    """

    name: str = "term"
    #: whether :meth:`update` does anything; the wrapper only buffers
    #: transitions for terms that learn.
    learns: bool = False
    #: whether :meth:`update` reads its batch; a learning term that learns from elsewhere (ONI: labels from
    #: its annotation service) sets it False, and the wrapper then keeps no batches for it (no copies, no buffer)
    #: and passes only the last step's batch.
    update_reads_batch: bool = True
    #: whether :meth:`compute` reads ``batch.frames`` (rendered RGB frames of ``next_obs``);
    #: envs render only when some term of the reward needs them.
    needs_frames: bool = False

    #: bumped by every ``train()``/``eval()`` and ``load_state_dict()`` of any term: a fused step (which
    #: holds the terms' kernels and arrays as they were when it was built) asks the terms again when it changed
    state_epoch: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in ("load_state_dict", "train"):
            own = cls.__dict__.get(method)
            if own is not None and not getattr(own, "_bumps_epoch", False):
                setattr(cls, method, _bumping(own))

    def __init__(self, *, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.training = True
        self.env_info: EnvInfo | None = None

    # -- evaluation ---------------------------------------------------------
    def compute(self, batch: Transitions) -> np.ndarray:
        """Return the reward of each transition, shape ``(batch.n,)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute(batch)")

    def __call__(self, batch: Transitions) -> np.ndarray:
        memo = batch.memo
        if memo is not None:  # inside the wrapper, with terms shared in the tree
            key = id(self)
            if key in memo:
                value = memo[key]
                if value is None:
                    if len(self.component_names()) > 1:  # the sum of the components the sums reuse
                        value = shared_components(self, batch).sum(axis=0)
                    else:
                        value = self.compute(batch)
                    value = memo[key] = checked_output(self, value, batch.n)
                return value
        return checked_output(self, self.compute(batch), batch.n)

    def components(self, batch: Transitions) -> dict[str, np.ndarray]:
        """Each named component's (weighted) value; they sum to the total."""
        out = np.empty((len(self.component_names()), batch.n))
        self.components_into(batch, out)
        return dict(zip(self.component_names(), out))

    def components_into(self, batch: Transitions, out: np.ndarray) -> None:
        """Write the components into the rows of ``out`` (shape ``(k, n)``): the allocation-free path."""
        self.compute_into(batch, out[0])

    def compute_into(self, batch: Transitions, out: np.ndarray, weight: float = 1.0) -> None:
        """Write ``weight`` × this term's value into ``out`` (shape ``(n,)``).

        What the wrappers call on every step. The default evaluates the term
        (``self(batch)``, checked and remembered for terms shared in the tree)
        and copies the value; terms with a compiled kernel override it to write
        straight into ``out`` with no intermediate arrays. An override must
        give exactly ``weight * self(batch)`` and change state as one call of
        ``compute`` would.
        """
        if weight == 1.0:
            out[...] = self(batch)
        else:
            np.multiply(self(batch), weight, out=out)

    def step_kernel(self, obs: np.ndarray) -> StepKernel | None:
        """This term's step as a numba kernel of the step's bare arrays, or None (the default).

        When every term of the reward has one, none learns, none is shared and none needs frames, the vector
        wrapper calls the kernels instead of building a :class:`Transitions` batch, one by one at first and,
        after :attr:`~rewardlab.wrappers.engine.RewardEngine.fuse_after` steps, compiled with the engine's
        bookkeeping into one call per step (:mod:`rewardlab.wrappers.fused`). The kernel must write exactly
        what ``compute_into(batch, out, weight)`` writes for the batch of those arrays, bit for bit, and change
        state as that call would; ``infos`` and actions are not passed, so a term that reads them offers none.
        The arrays (:class:`StepKernel`'s ``inputs``) are the wrapper's own C-contiguous copies of the
        observations (array observations only; the terminal observation in ``next_obs`` where an episode ended),
        the env's reward as the vector env returned it (float32 for SB3: read it as a float) and ``terminated``
        bools; ``out`` is a float64 row. ``obs`` here is a step's observations, to check the shapes and dtypes
        the kernel expects. The engine asks at the first step, again after any term's ``train()``/``eval()`` or
        ``load_state_dict()`` (:attr:`state_epoch`) and after every ``reset()``, so a kernel's ``args`` may hold
        the term's arrays and parameters as they are when asked; a parameter set by plain assignment during a
        run (``term.gamma = ...``) takes effect at the next ``reset()``. A term that returns None (a count bonus
        in evaluation mode) puts the reward back on the batch path until the terms are asked again.
        """
        return None

    def evaluate(self, batch: Transitions) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Total reward and its components in one pass."""
        comps = self.components(batch)
        total = np.zeros(batch.n)
        for v in comps.values():
            total += v
        return total, comps

    def component_names(self) -> list[str]:
        """Names of the components :meth:`components` returns, in order."""
        return [self.name]

    def leaves(self) -> Iterator[RewardTerm]:
        """The terms this one is made of (itself for a plain term)."""
        yield self

    # -- life cycle ---------------------------------------------------------
    def bind(self, env: EnvInfo) -> None:
        """Learn about the env before the first step (spaces, n_envs, observation names)."""
        self.env_info = env

    def reset(self, env_indices: np.ndarray) -> None:
        """Clear episodic state for ``env_indices`` (called at episode start)."""

    @property
    def resets_episodes(self) -> bool:
        """Whether :meth:`reset` does anything: the engine calls ``reset`` at episode ends only on terms where it
        does. By default, whether the class overrides ``reset``; a term whose ``reset`` does nothing in some
        settings (a count bonus in ``mode="global"``) says so here."""
        return type(self).reset is not RewardTerm.reset

    def update(self, batch: Transitions) -> dict[str, float]:
        """Learn from a batch of transitions; return metrics to log."""
        return {}

    def train(self, mode: bool = True) -> RewardTerm:
        """Switch running statistics and learners on (``True``) or off."""
        RewardTerm.state_epoch += 1
        self.training = mode
        return self

    def eval(self) -> RewardTerm:
        """Shorthand for ``train(False)``."""
        return self.train(False)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore this term's learned or running state."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        RewardTerm.state_epoch += 1

    def close(self) -> None:
        """Release threads and files the term holds; the wrappers' ``close()`` calls it on every leaf."""

    # -- algebra ------------------------------------------------------------
    def __add__(self, other: Any) -> WeightedSum:
        return WeightedSum.of(self) + other

    def __radd__(self, other: Any) -> WeightedSum:
        if isinstance(other, numbers.Real) and other == 0:  # sum([...]) starts at 0
            return WeightedSum.of(self)
        return WeightedSum.of(as_term(other)) + self

    def __sub__(self, other: Any) -> WeightedSum:
        return self + (-1.0) * as_term(other)

    def __rsub__(self, other: Any) -> WeightedSum:
        return as_term(other) + (-1.0) * self

    def __mul__(self, weight: Any) -> WeightedSum:
        if not isinstance(weight, numbers.Real):
            raise TypeError(
                f"a reward term can only be scaled by a real number, got {type(weight).__name__}; "
                "use rl.combine.krc(...) to multiply terms together"
            )
        return WeightedSum([(float(weight), self)])

    __rmul__ = __mul__

    def __truediv__(self, weight: Any) -> WeightedSum:
        return self * (1.0 / weight)

    def __neg__(self) -> WeightedSum:
        return self * -1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def checked_output(term: RewardTerm, value: Any, n: int) -> np.ndarray:
    """Coerce a term's output to a float64 vector of length ``n`` or fail clearly."""
    out = np.asarray(value, dtype=np.float64)
    if out.shape != (n,):
        if out.size == n:
            return out.reshape(n)
        raise ValueError(
            f"reward term {term.name!r} ({type(term).__name__}) returned shape {out.shape}; "
            f"expected one float per env, shape ({n},)"
        )
    return out


def shared_terms(root: RewardTerm) -> list[RewardTerm]:
    """Term objects reached more than once in ``root``'s tree (through :class:`CompositeTerm` children).

    The engine evaluates these once per step (see :attr:`Transitions.memo`).
    A shared composite is walked once, so its children count once.
    """
    visits: dict[int, int] = {}
    shared: list[RewardTerm] = []
    stack = [root]
    while stack:
        term = stack.pop()
        key = id(term)
        visits[key] = visits.get(key, 0) + 1
        if visits[key] == 2:
            shared.append(term)
        if visits[key] == 1 and isinstance(term, CompositeTerm):
            stack.extend(term.terms)
    return shared


def shared_components(term: RewardTerm, batch: Transitions) -> np.ndarray:
    """The components of a term with several (``(k, n)``, unweighted), evaluated once per batch.

    For a multi-component term shared in the tree (see :func:`shared_terms`):
    every place that reads it, as a block of components or as a total, gets
    the same single evaluation.
    """
    key = ("components", id(term))
    block = batch.memo.get(key)
    if block is None:
        block = np.empty((len(term.component_names()), batch.n))
        term.components_into(batch, block)
        batch.memo[key] = block
    return block


def first_update(term: RewardTerm, batch: Transitions) -> bool:
    """Whether ``term`` is yet to be updated on ``batch`` (marks it as updated).

    Composite terms ask this before forwarding ``update`` so that a learning
    term shared in the tree trains once per batch. Without a memo (a batch
    built outside the wrappers) every call counts.
    """
    memo = batch.memo
    if memo is None:
        return True
    key = ("update", id(term))
    if key in memo:
        return False
    memo[key] = True
    return True


def as_term(value: Any) -> RewardTerm:
    """Turn a number into a :class:`Constant`; pass terms through.

    Examples:
        >>> from rewardlab.core import as_term
        >>> as_term(0.5)
        Constant(0.5)
    """
    if isinstance(value, RewardTerm):
        return value
    if isinstance(value, numbers.Real):
        return Constant(float(value))
    raise TypeError(f"cannot use {type(value).__name__} as a reward term; expected a RewardTerm or a number")


class CompositeTerm(RewardTerm):
    """A term computed from child terms (``self.terms``); forwards the life cycle to them.

    Children are keyed by :meth:`child_names` in state dicts. Sums, transforms
    and combinations build on this, so a learning term stays reachable however
    deeply it is nested.
    """

    terms: list[RewardTerm]

    def child_names(self) -> list[str]:
        """Keys of the children in state dicts."""
        return [str(i) for i in range(len(self.terms))]

    @property
    def learns(self) -> bool:  # type: ignore[override]
        return any(t.learns for t in self.terms)

    @property
    def needs_frames(self) -> bool:  # type: ignore[override]
        return any(t.needs_frames for t in self.terms)

    @property
    def resets_episodes(self) -> bool:
        return any(t.resets_episodes for t in self.terms)

    def leaves(self) -> Iterator[RewardTerm]:
        for t in self.terms:
            yield from t.leaves()

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        for t in self.terms:
            t.bind(env)

    def reset(self, env_indices: np.ndarray) -> None:
        for t in self.terms:
            if t.resets_episodes:  # not the terms whose reset does nothing
                t.reset(env_indices)

    def update(self, batch: Transitions) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for t in self.terms:
            if t.learns and t.training and first_update(t, batch):
                metrics.update(t.update(batch))
        return metrics

    def train(self, mode: bool = True) -> CompositeTerm:
        super().train(mode)
        for t in self.terms:
            t.train(mode)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {name: t.state_dict() for name, t in zip(self.child_names(), self.terms)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        names = self.child_names()
        missing = set(names) - set(state)
        if missing:
            raise KeyError(f"state_dict lacks components {sorted(missing)}; it has {sorted(state)}")
        for name, t in zip(names, self.terms):
            t.load_state_dict(state[name])


class WeightedSum(CompositeTerm):
    """``Σ wᵢ·termᵢ`` that keeps each weighted term as a named component.

    Names are made unique (``count``, ``count_2``) so that two terms of the
    same kind can be logged side by side. The same term object given twice
    is one component whose weights add up (``0.05*c + 0.05*c`` is ``0.1*c``).
    A term with several components of its own (``component_names()`` longer
    than one, e.g. a generated reward program) keeps them all, named
    ``<term name>/<component>``, each weighted.

    Examples:
        >>> import rewardlab as rl
        >>> reward = rl.extrinsic() + 0.1 * rl.constant(-1.0)
        >>> type(reward).__name__, reward.component_names()
        ('WeightedSum', ['extrinsic', 'constant'])
        >>> reward.components(rl.Transitions.fake(reward=[1.0]))
        {'extrinsic': array([1.]), 'constant': array([-0.1])}
    """

    def __init__(self, terms: Sequence[tuple[float, RewardTerm]], *, name: str = "sum") -> None:
        super().__init__(name=name)
        if not terms:
            raise ValueError("a WeightedSum needs at least one term")
        position: dict[int, int] = {}
        weights: list[float] = []
        self.terms = []
        for w, t in terms:
            if id(t) in position:
                weights[position[id(t)]] += float(w)
            else:
                position[id(t)] = len(self.terms)
                weights.append(float(w))
                self.terms.append(t)
        self.weights = np.array(weights)
        self._weight_list = self.weights.tolist()
        self._names = unique_names([t.name for t in self.terms])
        self._rows = [len(t.component_names()) for t in self.terms]
        self._one_row_each = all(rows == 1 for rows in self._rows)
        flat = []
        for unique, term, rows in zip(self._names, self.terms, self._rows):
            if rows == 1:
                flat.append(unique)
            else:
                prefix = f"{term.name}/"
                for n in term.component_names():
                    flat.append(f"{unique}/{n[len(prefix) :] if n.startswith(prefix) else n}")
        self._component_names = unique_names(flat)

    @classmethod
    def of(cls, term: RewardTerm) -> WeightedSum:
        """``term`` as a sum (a sum stays itself)."""
        return term if isinstance(term, WeightedSum) else cls([(1.0, term)])

    def items(self) -> list[tuple[str, float, RewardTerm]]:
        """``(component name, weight, term)`` triples."""
        return list(zip(self._names, self._weight_list, self.terms))

    def component_names(self) -> list[str]:
        return list(self._component_names)

    def child_names(self) -> list[str]:
        return list(self._names)

    def components_into(self, batch: Transitions, out: np.ndarray) -> None:
        memo = batch.memo
        if memo is None and self._one_row_each:  # the common step: one row per term, nothing shared
            for row, weight, term in zip(out, self._weight_list, self.terms):
                term.compute_into(batch, row, weight)
            return
        start = 0
        for rows, weight, term in zip(self._rows, self._weight_list, self.terms):
            shared = memo is not None and id(term) in memo
            if rows == 1:
                if shared:  # one evaluation, reused
                    RewardTerm.compute_into(term, batch, out[start], weight)
                else:
                    term.compute_into(batch, out[start], weight)
            else:
                block = out[start : start + rows]
                if shared:
                    block[...] = shared_components(term, batch)
                else:
                    term.components_into(batch, block)
                if weight != 1.0:
                    block *= weight
            start += rows

    def row_calls(self, out: np.ndarray) -> list[tuple[np.ndarray, float, RewardTerm]] | None:
        """``(row of out, weight, term)``: the ``compute_into`` calls :meth:`components_into` makes on ``out``
        when every term has one row and none is shared (no memo); None otherwise.

        The wrappers write each step into the same array, so they make these rows once and call the terms
        themselves, the step's cheapest path.
        """
        if not self._one_row_each or out.shape[0] != len(self.terms):
            return None
        return list(zip(out, self._weight_list, self.terms))

    def compute(self, batch: Transitions) -> np.ndarray:
        return self.evaluate(batch)[0]

    def update(self, batch: Transitions) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for name, t in zip(self._names, self.terms):
            if t.learns and t.training and first_update(t, batch):
                metrics.update({f"{name}/{k}": v for k, v in t.update(batch).items()})
        return metrics

    def __add__(self, other: Any) -> WeightedSum:
        other_sum = WeightedSum.of(as_term(other))
        pairs = list(zip(self._weight_list, self.terms)) + list(zip(other_sum._weight_list, other_sum.terms))
        return WeightedSum(pairs, name=self.name)

    def __mul__(self, weight: Any) -> WeightedSum:
        if not isinstance(weight, numbers.Real):
            raise TypeError(f"a reward sum can only be scaled by a real number, got {type(weight).__name__}")
        return WeightedSum([(w * float(weight), t) for w, t in zip(self._weight_list, self.terms)], name=self.name)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return " + ".join(f"{w:g}*{t!r}" for w, t in zip(self._weight_list, self.terms))


#: keys the wrappers and logs put beside the components (``info["rewardlab"]``, episode sums, CSV columns)
RESERVED_NAMES = ("extrinsic_reward", "total", "true_return", "length", "terminated", "timestep")


def unique_names(names: list[str]) -> list[str]:
    """``names`` made unique (``count``, ``count_2``) and kept off :data:`RESERVED_NAMES` (``total`` → ``total_2``)."""
    used = set(RESERVED_NAMES)
    out = []
    for n in names:
        k, name = 1, n
        while name in used:
            k += 1
            name = f"{n}_{k}"
        used.add(name)
        out.append(name)
    return out


class Constant(RewardTerm):
    """The same reward on every step (for instance a per-step cost of ``-1``).

    Args:
        value: the reward given on every step.

    Examples:
        >>> import rewardlab as rl
        >>> rl.Constant(-1.0)(rl.Transitions.fake(reward=[0.0, 5.0]))
        array([-1., -1.])
    """

    name = "constant"

    def __init__(self, value: float = 1.0, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.value = float(value)

    def compute(self, batch: Transitions) -> np.ndarray:
        return np.full(batch.n, self.value)

    def compute_into(self, batch: Transitions, out: np.ndarray, weight: float = 1.0) -> None:
        out.fill(self.value * weight)

    def step_kernel(self, obs: np.ndarray) -> StepKernel:
        from rewardlab.wrappers.kernels import filled

        return StepKernel(filled, (), (self.value,), takes_weight=True)

    def __repr__(self) -> str:
        return f"Constant({self.value:g})"


class Extrinsic(RewardTerm):
    """The environment's own reward, passed through.

    Examples:
        >>> import rewardlab as rl
        >>> rl.Extrinsic()(rl.Transitions.fake(reward=[1.0, 0.0]))
        array([1., 0.])
    """

    name = "extrinsic"

    def compute(self, batch: Transitions) -> np.ndarray:
        return batch.reward

    def compute_into(self, batch: Transitions, out: np.ndarray, weight: float = 1.0) -> None:
        if weight == 1.0:
            out[...] = batch.reward
        else:
            np.multiply(batch.reward, weight, out=out)

    def step_kernel(self, obs: np.ndarray) -> StepKernel:
        from rewardlab.wrappers.kernels import scaled_copy

        return StepKernel(scaled_copy, ("reward",), takes_weight=True)

    def __repr__(self) -> str:
        return "Extrinsic()"
