"""Chunked execution of the core's resampling kernels, locally or on an executor.

Replicates are split into fixed chunks, each with its own random stream derived from
(seed, chunk index), so any range of chunks can be computed anywhere (the local thread pool,
a :class:`concurrent.futures.Executor`, a ``dask.distributed.Client``) and the results,
concatenated in chunk order, are bit for bit those of one local call. Shared by
:mod:`calipers.resample` and :mod:`calipers.dominance`.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from ._progress import Progress, progress_callback
from .exceptions import InvalidArgumentError

_MAX_PARTS = 16  # tasks submitted to an executor (results never depend on it)
_BATCH_ELEMENTS = 1 << 22  # float64 elements materialised at once for a user statistic


def chunk_task(kernel: str, args: tuple, seed: int, n_resamples: int, start: int, end: int):
    """Compute chunks ``start..end`` of a core kernel (picklable: runs on executor workers)."""
    return _chunks(kernel, tuple(_aligned(a) for a in args), seed, n_resamples, start, end)


def _chunks(
    kernel: str,
    args: tuple,
    seed: int,
    n_resamples: int,
    start: int,
    end: int,
    callback: Callable[[int, int], Any] | None = None,
) -> np.ndarray:
    """Chunks ``start..end`` of ``kernel``: the kernel's own (at most three) leading arguments
    by position, the shared chunking arguments by keyword."""
    if kernel == "statistic":
        samples, paired, statistic = args
        return _statistic_chunks(
            samples, paired, statistic, seed, n_resamples, start, end, callback=callback
        )
    return getattr(_core, kernel)(
        *args,
        seed=seed,
        n_resamples=n_resamples,
        chunk_start=start,
        chunk_end=end,
        progress=callback,
    )


def _aligned(arg: Any) -> Any:
    """Arrays as C-contiguous, aligned float64 (deserialised buffers may be neither)."""
    if isinstance(arg, np.ndarray) and arg.dtype == np.float64:
        return np.require(arg, requirements=["C", "A"])
    if isinstance(arg, list):
        return [_aligned(a) for a in arg]
    return arg


def _as_executor(executor: Any) -> concurrent.futures.Executor:
    if isinstance(executor, concurrent.futures.Executor):
        return executor
    if hasattr(executor, "get_executor"):  # dask.distributed.Client
        return executor.get_executor()
    raise InvalidArgumentError(
        "executor: expected a concurrent.futures.Executor or a dask.distributed.Client, got "
        f"{type(executor).__name__}"
    )


def run_chunked(
    kernel: str,
    args: tuple,
    *,
    seed: int,
    n_resamples: int,
    executor: Any = None,
    progress: Progress = False,
    desc: str = "bootstrap",
) -> np.ndarray:
    """Run ``kernel`` over all chunks and concatenate the results in chunk order (axis 0)."""
    _, n_chunks = _core.resample_chunking(n_resamples)
    with progress_callback(progress, desc, unit="chunk") as callback:
        if executor is None:
            return _chunks(kernel, args, seed, n_resamples, 0, n_chunks, callback)
        return _run_on_executor(
            _as_executor(executor), kernel, args, seed, n_resamples, n_chunks, callback
        )


def _run_on_executor(ex, kernel, args, seed, n_resamples, n_chunks, callback) -> np.ndarray:
    n_parts = min(n_chunks, _MAX_PARTS)
    bounds = np.linspace(0, n_chunks, n_parts + 1).round().astype(int)
    futures = {
        ex.submit(chunk_task, kernel, args, seed, n_resamples, int(a), int(b)): (int(a), int(b))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    }
    parts: dict[int, np.ndarray] = {}
    done_chunks = 0
    try:
        for fut in concurrent.futures.as_completed(futures):
            a, b = futures[fut]
            parts[a] = np.asarray(fut.result())
            done_chunks += b - a
            if callback is not None:
                callback(done_chunks, n_chunks)
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    return np.concatenate([parts[a] for a in sorted(parts)], axis=0)


def _statistic_chunks(
    samples: list[np.ndarray],
    paired: bool,
    statistic: Callable,
    seed: int,
    n_resamples: int,
    start: int,
    end: int,
    callback: Callable | None = None,
) -> np.ndarray:
    """Replicates (r, m) of a user statistic on the core's resample indices for chunks."""
    sizes = [len(samples[0])] if paired else [len(s) for s in samples]
    per_replicate = sum(sizes)
    chunk, _ = _core.resample_chunking(n_resamples)
    step = max(1, _BATCH_ELEMENTS // (chunk * per_replicate * (len(samples) if paired else 1)))
    out = []
    for a in range(start, end, step):
        b = min(a + step, end)
        idx = _core.bootstrap_indices(
            sizes=sizes, seed=seed, n_resamples=n_resamples, chunk_start=a, chunk_end=b
        )
        idx = idx.reshape(-1, per_replicate)
        cols = []
        offset = 0
        for k, s in enumerate(samples):
            if paired:
                take = idx
            else:
                take = idx[:, offset : offset + sizes[k]]
                offset += sizes[k]
            cols.append(np.asarray(statistic(s[take], axis=-1), dtype=np.float64))
        out.append(np.stack(cols, axis=-1))
        if callback is not None:
            callback(b - start, end - start)
    return np.concatenate(out, axis=0) if out else np.empty((0, len(samples)))
