"""SB3 loggers for a run folder that continue, not restart, when a run resumes.

On resume every log is cut back to the checkpoint's step (what the killed
process logged after it is replayed by the resumed one) and then appended:
``progress.csv`` keeps its rows, ``reward_terms.csv`` its episodes, and
TensorBoard hides the orphaned events with ``purge_step``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat

from rewardlab.runs.folder import PROGRESS_FILE, REWARD_TERMS_FILE, TENSORBOARD_DIR, truncate_csv

STEP_COLUMN = "time/total_timesteps"


class AppendingCSVOutputFormat(CSVOutputFormat):
    """SB3's CSV writer, continuing an existing file (its header and rows) instead of truncating it."""

    def __init__(self, filename: str | Path) -> None:
        path = Path(filename)
        lines = path.read_text().splitlines(keepends=True) if path.exists() else []
        super().__init__(str(path))  # opens with "w+": write back what was there
        if lines:
            self.keys = lines[0].rstrip("\n").split(",")
            self.file.write("".join(lines))
            self.file.flush()


class PurgingTensorBoardOutputFormat(TensorBoardOutputFormat):
    """TensorBoard writer that hides events at or after ``purge_step`` left by an interrupted process."""

    def __init__(self, folder: str | Path, purge_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge_step)
        self._is_closed = False


def run_logger(out: Path, *, resume_step: int | None = None) -> Logger:
    """SB3 logger writing ``progress.csv`` and ``tb/`` in ``out``; on resume, cut back to ``resume_step`` first."""
    if resume_step is None:
        formats: list[Any] = [
            CSVOutputFormat(str(out / PROGRESS_FILE)),
            TensorBoardOutputFormat(str(out / TENSORBOARD_DIR)),
        ]
    else:
        truncate_csv(out / PROGRESS_FILE, STEP_COLUMN, resume_step)
        truncate_csv(out / REWARD_TERMS_FILE, "timestep", resume_step)
        formats = [
            AppendingCSVOutputFormat(out / PROGRESS_FILE),
            PurgingTensorBoardOutputFormat(out / TENSORBOARD_DIR, resume_step + 1),
        ]
    return Logger(str(out), formats)


def flush(logger: Any) -> None:
    """Push buffered TensorBoard events to disk (SummaryWriter otherwise flushes every two minutes)."""
    for fmt in getattr(logger, "output_formats", ()):
        writer = getattr(fmt, "writer", None)
        if writer is not None:
            writer.flush()
