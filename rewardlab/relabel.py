"""Relabel an off-policy agent's replay buffer after a learned reward changes.

SAC, TD3 and DQN train on transitions stored long ago, with the reward they
got *then*. When the reward learns online (a discriminator, a preference
model), those stored rewards go stale. :class:`ReplayRelabeler` keeps them
current:

* at every step it records, for the buffer slot about to be written, the part
  of the reward that does not learn: ``base = total − Σ wᵢ·learnedᵢ`` (from the
  engine's ``last_total`` and ``last_values``; non-learning terms may be stateful
  -- counts, episodic bonuses -- so they are kept as they were, never recomputed);
* after a rollout in which the reward updated (``RewardEngine.updates`` grew),
  and so before the agent's next gradient steps, it recomputes every learned
  top-level component on the buffer's ``(obs, action, next_obs, terminated)``
  in batches and writes ``base + Σ wᵢ·learnedᵢ`` into ``buffer.rewards``.

Facts this relies on (SB3 2.x): the callback's ``on_step`` runs before the
step's transition is stored, at slot ``buffer.pos``; Box actions are stored
scaled to ``[-1, 1]`` (``policy.unscale_action`` gives the env's action); with
``VecNormalize`` the buffer holds the original (unnormalised) observations and
rewards -- what the reward terms see inside it. A learned term nested inside a
transform or combination is recomputed with its whole top-level component.

After :meth:`ReplayRelabeler.relabel`, every stored reward equals what the
current reward gives for that transition (up to float32 storage).
``rewardlab train`` installs the relabeler for off-policy algorithms whose
reward learns. A run resumed from a checkpoint starts from ``base`` = stored
reward − current learned part (the checkpoint is written after a relabel).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from rewardlab.callbacks import find_engine
from rewardlab.core.term import RewardTerm, WeightedSum
from rewardlab.core.transitions import Transitions


def learned_components(reward: RewardTerm, names: list[str]) -> list[tuple[str, float, RewardTerm]]:
    """``(component name, weight, term)`` of each top-level component that learns."""
    if not isinstance(reward, WeightedSum):
        if not reward.learns:
            return []
        if len(names) != 1:
            raise ValueError(f"cannot relabel {reward.name!r}: a learning term with several components")
        return [(names[0], 1.0, reward)]
    parts = []
    for (_, weight, term), name in zip(reward.items(), _item_names(reward, names)):
        if term.learns:
            if name is None:
                raise ValueError(f"cannot relabel {term.name!r}: a learning term with several components")
            parts.append((name, weight, term))
    return parts


def _item_names(reward: WeightedSum, names: list[str]) -> list[str | None]:
    """The engine's component name of each item of ``reward`` (``None`` for an item with several components)."""
    out: list[str | None] = []
    start = 0
    for term in reward.terms:
        rows = len(term.component_names())
        out.append(names[start] if rows == 1 else None)
        start += rows
    return out


class ReplayRelabeler(BaseCallback):
    """SB3 callback: keep the replay buffer's rewards equal to the current learned reward (see module docs).

    Cost: one evaluation of the learned terms per stored transition at each relabel (the default adversarial
    discriminator: about 2 s per million transitions on one shared CPU core); ``every`` spaces relabels out on
    long runs.

    Args:
        batch_size: buffer slots recomputed per call of the reward terms.
        every: relabel after every ``every``-th reward update (1: after each).
    """

    def __init__(self, *, batch_size: int = 4096, every: int = 1, verbose: int = 0) -> None:
        super().__init__(verbose)
        if every < 1 or batch_size < 1:
            raise ValueError(f"batch_size and every must be >= 1, got {batch_size} and {every}")
        self.batch_size = batch_size
        self.every = every
        self.relabels = 0
        self._pending = False

    def _on_training_start(self) -> None:
        self.engine = find_engine(self.training_env)
        if self.engine is None:
            raise ValueError("no RewardVecWrapper in this env stack: nothing to relabel")
        self.buffer = self.model.replay_buffer
        if self.buffer is None:
            raise ValueError(f"{type(self.model).__name__} has no replay buffer to relabel")
        self.parts = learned_components(self.engine.reward, self.engine.names)
        self._rows = [self.engine.names.index(name) for name, _, _ in self.parts]  # rows of last_values
        saved_seen = getattr(self, "_saved_seen", None)
        self._seen = self.engine.updates if saved_seen is None else saved_seen
        if getattr(self, "base", None) is None or self.base.shape != self.buffer.rewards.shape:
            self.base = np.zeros(self.buffer.rewards.shape, dtype=np.float64)
            filled = self._filled()
            if filled:  # a resumed run: its stored rewards were relabelled with the current reward state
                for idx in self._chunks(filled):
                    self.base[idx] = self.buffer.rewards[idx] - self._learned(idx)

    def state_dict(self) -> dict[str, Any]:
        """Base rewards of the stored transitions and the update counter seen (kept with a run's checkpoints)."""
        return {"base": None if getattr(self, "base", None) is None else self.base.copy(),
                "seen": getattr(self, "_seen", None), "relabels": self.relabels}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Set before training starts: the base rewards are then taken as saved, not recomputed from the buffer."""
        self.base = None if state["base"] is None else np.array(state["base"])
        self._saved_seen = state["seen"]
        self.relabels = int(state["relabels"])

    def _filled(self) -> int:
        return self.buffer.buffer_size if self.buffer.full else self.buffer.pos

    def _chunks(self, filled: int) -> list[np.ndarray]:
        rows = max(1, self.batch_size // self.buffer.n_envs)
        return [np.arange(s, min(s + rows, filled)) for s in range(0, filled, rows)]

    def _on_step(self) -> bool:
        if self.parts:  # the engine's values are weighted already
            learned = self.engine.last_values[self._rows].sum(axis=0)
            self.base[self.buffer.pos] = self.engine.last_total - learned
            if self.engine.updates - self._seen >= self.every:
                self._seen = self.engine.updates
                self._pending = True
        return True

    def _on_rollout_end(self) -> None:
        if self._pending:
            self._pending = False
            n = self.relabel()
            self.logger.record("reward_update/relabelled_transitions", n)

    def relabel(self) -> int:
        """Recompute the learned part of every stored reward now; return the number of transitions relabelled."""
        filled = self._filled()
        for idx in self._chunks(filled):
            self.buffer.rewards[idx] = self.base[idx] + self._learned(idx)
        self.relabels += 1
        return filled * self.buffer.n_envs

    def transitions(self, idx: np.ndarray) -> Transitions:
        """The stored transitions of buffer slots ``idx`` (all envs), as the reward terms saw them."""
        import gymnasium as gym

        buf, n = self.buffer, len(idx) * self.buffer.n_envs

        def flat(x: np.ndarray) -> np.ndarray:
            return x.reshape(n, *x.shape[2:])

        def obs_at(rows: np.ndarray) -> Any:
            o = buf.observations
            return {k: flat(v[rows]) for k, v in o.items()} if isinstance(o, dict) else flat(o[rows])

        obs = obs_at(idx)
        if getattr(buf, "optimize_memory_usage", False):
            next_obs = obs_at((idx + 1) % buf.buffer_size)
        else:
            no = buf.next_observations
            next_obs = {k: flat(v[idx]) for k, v in no.items()} if isinstance(no, dict) else flat(no[idx])
        acts = flat(buf.actions[idx])
        space = self.model.action_space
        if isinstance(space, gym.spaces.Box):
            acts = self.model.policy.unscale_action(acts).reshape(n, *space.shape)
        elif isinstance(space, gym.spaces.Discrete):
            acts = acts.reshape(n).astype(np.int64)
        dones = flat(buf.dones[idx]).astype(bool)  # SB3 stores terminated or truncated, and timeouts beside
        timeouts = flat(buf.timeouts[idx]).astype(bool) if hasattr(buf, "timeouts") else np.zeros(n, dtype=bool)
        return Transitions.from_arrays(obs, acts, next_obs, np.zeros(n), dones & ~timeouts, dones & timeouts)

    def _learned(self, idx: np.ndarray) -> np.ndarray:
        """``Σ wᵢ·learnedᵢ`` of buffer slots ``idx``, shape ``(len(idx), n_envs)``, with the terms frozen."""
        batch = self.transitions(idx)
        total = np.zeros(batch.n)
        for _, weight, term in self.parts:
            was = term.training
            term.train(False)
            try:
                total += weight * term(batch)
            finally:
                term.train(was)
        return total.reshape(len(idx), self.buffer.n_envs)
