"""Run one sweep run in the current process and record how it ended (the worker side of every backend)."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.sweep.spec import SweepRun
from rewardlab.sweep.state import mark, mark_failed, prepare_run_dir, resumable


@dataclass
class RunResult:
    """How a run ended: ``state`` is ``done`` or ``failed``; ``summary`` is train()'s summary when done."""

    run_id: str
    state: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None


def execute_run(run: SweepRun, run_dir: str | Path) -> RunResult:
    """Train ``run`` into ``run_dir`` and mark it ``done`` or ``failed``.

    An unfinished run of the same config with a checkpoint is resumed from
    it; anything else in ``run_dir`` is deleted first.

    Exceptions from training are recorded, not raised, so one bad run never
    stops a sweep; ``KeyboardInterrupt`` and ``SystemExit`` pass through and
    leave the status ``running``, which a resume treats as unfinished.
    """
    import torch

    from rewardlab.train import train

    torch.set_num_threads(1)
    start = time.perf_counter()
    resume = resumable(run_dir, run.config_hash)
    if resume:
        mark(run_dir, "running", run.config_hash)
    else:
        run_dir = prepare_run_dir(run_dir, run.config_hash)
    try:
        summary = train(run.config, run_dir, progress_bar=False, resume=resume)
    except Exception as err:  # noqa: BLE001 -- any training error is the run's result
        tb = "".join(traceback.format_exception(err))
        message = mark_failed(run_dir, run.config_hash, err, tb)
        return RunResult(run.run_id, "failed", time.perf_counter() - start, error=message, traceback=tb)
    seconds = time.perf_counter() - start
    mark(run_dir, "done", run.config_hash, seconds=round(seconds, 2))
    return RunResult(run.run_id, "done", seconds, summary=summary)
