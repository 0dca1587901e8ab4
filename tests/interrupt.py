"""A Ctrl-C in the middle of training, for the resume tests."""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback


class StopAt(BaseCallback):
    """Raise ``KeyboardInterrupt`` once the model has taken ``step`` env steps."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.step:
            raise KeyboardInterrupt
        return True
