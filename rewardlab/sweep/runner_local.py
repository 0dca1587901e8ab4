"""Local backend: runs on a pool of worker processes on this machine.

Workers are spawned (not forked: torch and numba do not survive a fork with
threads), run one training at a time with ``torch.set_num_threads(1)``, ignore
Ctrl-C (the parent stops them) and exit by themselves if the parent dies, so a
killed sweep leaves no orphan writing into a folder that a resume cleans.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from rewardlab.config.registry import ConfigError
from rewardlab.sweep.execute import RunResult, execute_run
from rewardlab.sweep.spec import SweepRun
from rewardlab.sweep.state import mark_failed


def default_workers() -> int:
    """Half the cores (a PPO run keeps about one core busy), at least one."""
    return max(1, (os.cpu_count() or 1) // 2)


def check_workers(workers: int | None) -> int:
    """``workers``, or half the cores when ``None``; anything below 1 is an error (0 is not "unset")."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    return workers


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(1.0)


def _init_worker(parent: int) -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _stop(executor: cf.ProcessPoolExecutor) -> None:
    """Terminate the workers now (the executor has no public call for it before Python 3.14)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its stderr on ``/dev/null``.

    The pool's queues hold semaphores that the tracker unlinks when their owner dies without doing so. After a
    SIGKILL of the sweep it does that as it should, but also prints "There appear to be N leaked semaphore objects
    to clean up at shutdown" on the terminal, mixed into the resumed sweep's output, about a cleanup that worked.
    A tracker already running (started before the sweep) is left as it is.
    """
    from multiprocessing import resource_tracker

    if getattr(resource_tracker._resource_tracker, "_pid", None) is not None:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    try:
        os.dup2(devnull, 2)  # the tracker inherits fd 2 when it is spawned
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class LocalBackend:
    """Run jobs on ``workers`` processes; call ``on_result`` as each run ends."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = check_workers(workers)

    def run(self, jobs: list[SweepRun], out: Path, on_result: Callable[[RunResult], None]) -> None:
        queue = list(reversed(jobs))
        while queue:
            queue = self._run_pool(queue, out, on_result)

    def _run_pool(self, queue: list[SweepRun], out: Path, on_result: Callable[[RunResult], None]) -> list[SweepRun]:
        """Feed jobs to one pool, at most ``workers`` in flight; return what is left if the pool breaks."""
        _quiet_resource_tracker()
        executor = cf.ProcessPoolExecutor(
            max_workers=min(self.workers, len(queue)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        in_flight: dict[cf.Future, tuple[SweepRun, float]] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < self.workers:
                    job = queue.pop()
                    in_flight[executor.submit(execute_run, job, out / job.run_id)] = (job, time.perf_counter())
                finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    job, started = in_flight.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        # a worker died (OOM killer, segfault): every run in flight is lost with the pool
                        lost = [(job, started), *in_flight.values()]
                        for j, t in lost:
                            message = mark_failed(
                                out / j.run_id, j.config_hash, "worker process died (killed or crashed)"
                            )
                            on_result(RunResult(j.run_id, "failed", time.perf_counter() - t, error=message))
                        _stop(executor)
                        return queue
                    on_result(result)
        except BaseException:
            _stop(executor)
            raise
        executor.shutdown(wait=True)
        return queue
