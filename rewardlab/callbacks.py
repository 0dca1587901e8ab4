"""SB3 callback that logs every reward term and the true return."""

from __future__ import annotations

import csv
import sys
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from rewardlab.wrappers.engine import EPISODE_KEY


class RewardLogger(BaseCallback):
    """Log episode sums of each reward term under ``rollout/reward/<term>``.

    Also logs ``rollout/true_return`` (the environment's own return, whatever
    reward the agent trains on), ``rollout/shaped_return`` (the injected
    total) and, for learning terms, their update metrics under
    ``reward_update/``. Every finished episode is appended to a CSV
    (``csv_path``, default ``<logger dir>/reward_terms.csv``) so runs can be
    plotted and compared later.

    SB3's logger prints only when the algorithm has ``verbose=1``; when it shows
    nothing, the callback says so once at the start of training, with what to add.
    Without ``csv_path`` the CSV goes to SB3's logger folder (a temporary one
    unless ``tensorboard_log=...`` or ``stable_baselines3.common.logger.configure``
    chose it), and the callback prints that path once.

    Args:
        window: episodes averaged in each logged value.
        csv_path: where to write per-episode rows; ``False`` disables the CSV.
        verbose: SB3's callback verbosity.

    Examples:
        >>> import rewardlab as rl
        >>> from stable_baselines3 import PPO
        >>> reward = rl.extrinsic() + rl.constant(0.1)
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), reward)
        >>> logger = rl.RewardLogger(csv_path=False)
        >>> _ = PPO("MlpPolicy", venv, n_steps=64, verbose=1).learn(128, callback=logger)  # doctest: +ELLIPSIS
        Using ... device
        ...
        |    reward/constant  | ...
        |    reward/extrinsic | ...
        ...
        >>> logger.episodes[-1]["constant"] > 0  # the episode sum of the 0.1-per-step term
        True
    """

    def __init__(self, window: int = 100, csv_path: str | Path | None | bool = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.window = window
        self.episodes: deque[dict[str, Any]] = deque(maxlen=window)
        self._csv_path = csv_path
        self._csv_file: Any = None
        self._csv_writer: csv.DictWriter | None = None

    def _on_training_start(self) -> None:
        self._say_where_output_goes()

    def _say_where_output_goes(self) -> None:
        """One line at the start when the per-term logs are not shown or the CSV lands where nobody chose."""
        logger = self.logger
        if logger is None:
            return
        folder = logger.get_dir()
        shown = bool(getattr(logger, "output_formats", None))
        notes = []
        if not shown:
            notes.append(
                "rollout/reward/<term> goes to SB3's logger, which has no output here: pass verbose=1 to the "
                "algorithm for a table on stdout, or tensorboard_log=DIR for TensorBoard"
            )
        if self._csv_path is None:
            if folder is None:
                notes.append("no per-episode CSV: SB3's logger has no folder; pass RewardLogger(csv_path='terms.csv')")
            else:  # SB3 picks a temporary folder when none was given: say where, and how to choose
                notes.append(
                    f"per-episode CSV: {Path(folder) / 'reward_terms.csv'} (RewardLogger(csv_path=...) to choose)"
                )
        if notes:
            print("RewardLogger: " + "; ".join(notes) + ".", file=sys.stderr)

    def _open_csv(self, fields: list[str]) -> None:
        path = self._csv_path
        if path is False:
            return
        if path is None:
            folder = self.logger.get_dir() if self.logger is not None else None
            if folder is None:
                self._csv_path = False
                return
            path = Path(folder) / "reward_terms.csv"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._csv_file = path.open("a", newline="")
        self._csv_writer = csv.DictWriter(self._csv_file, fieldnames=["timestep", *fields], extrasaction="ignore")
        if path.stat().st_size == 0:
            self._csv_writer.writeheader()

    def _init_callback(self) -> None:
        self._engine = find_engine(self.training_env)

    def _on_step(self) -> bool:
        infos = self.locals.get("infos", ())
        engine = getattr(self, "_engine", None)
        if engine is not None and infos and engine.last_info is infos[0]:  # this step's ends, without a scan
            finished = engine.last_episodes
        else:
            finished = [episode for info in infos if (episode := info.get(EPISODE_KEY)) is not None]
        for episode in finished:
            self.episodes.append(episode)
            if self._csv_writer is None and self._csv_path is not False:
                self._open_csv(list(episode))
            if self._csv_writer is not None:
                self._csv_writer.writerow({"timestep": self.num_timesteps, **episode})
                self._csv_file.flush()
        return True

    def _on_rollout_end(self) -> None:
        engine = find_engine(self.training_env)
        if engine is not None:  # learning terms report at every update, whether or not an episode ended
            for key, value in engine.last_update_metrics.items():
                self.logger.record(f"reward_update/{key}", value)
        if not self.episodes:
            return
        for key in self.episodes[-1]:
            mean = float(np.mean([ep[key] for ep in self.episodes if key in ep]))
            if key == "true_return":
                self.logger.record("rollout/true_return", mean)
            elif key == "total":
                self.logger.record("rollout/shaped_return", mean)
            elif key == "terminated":
                self.logger.record("rollout/terminated_rate", mean)
            elif key != "length":
                self.logger.record(f"rollout/reward/{key}", mean)

    def state_dict(self) -> dict[str, Any]:
        """The window of episodes behind the logged means (saved with a run's checkpoints)."""
        return {"episodes": [dict(ep) for ep in self.episodes]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episodes = deque((dict(ep) for ep in state["episodes"]), maxlen=self.window)

    def _on_training_end(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the CSV (training ended, or was interrupted)."""
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file = None
            self._csv_writer = None


def find_engine(venv: Any) -> Any:
    """The RewardEngine of the first RewardVecWrapper in a wrapper stack, if any (else ``None``)."""
    while venv is not None:
        engine = getattr(venv, "engine", None)
        if engine is not None:
            return engine
        venv = getattr(venv, "venv", None)
    return None
