"""Trainings in worker processes: one pool for `nas train --jobs` and `nas rerank --jobs`."""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import signal


def die_with_parent() -> None:
    """Linux: have the kernel kill this worker when the process that started it dies, however it
    dies (a killed `nas train` must not leave seeds training on, writing into its run)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def print_flush(line: str) -> None:
    print(line, flush=True)


def map_in_workers(fn, jobs_args: list, workers: int) -> list:
    """`[fn(a) for a in jobs_args]` in `workers` spawned processes (fork would copy torch's thread
    pools), in order. Ctrl-C or SIGTERM stops the workers too, without waiting for their jobs."""
    ctx = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=die_with_parent)
    try:
        results = list(pool.map(fn, jobs_args))
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results
