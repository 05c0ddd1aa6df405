"""Running a sweep: in process, on a local process pool, or on Dask; cancellable, finished points kept."""

from __future__ import annotations

import itertools
import os
import sys
import time
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

import pandas as pd

from simlib.errors import Problem, ScenarioError
from simlib.scenario import Scenario
from simlib.sweep.evaluate import _task, evaluate_point
from simlib.sweep.result import SweepResult, _frame
from simlib.sweep.spec import SweepSpec, build_sweep


Backend = Literal["inprocess", "processes", "dask"]
BACKENDS: tuple[str, ...] = ("inprocess", "processes", "dask")


# --- running ----------------------------------------------------------------------------

def run_sweep(spec: SweepSpec, *, backend: Backend = "inprocess", workers: int | None = None,
              scheduler: str | None = None, progress: bool | Callable[[int, int], None] = True,
              on_point: Callable[[int, pd.DataFrame], bool | None] | None = None) -> SweepResult:
    """Run every point of a sweep; the tidy table, in point order.

    backend: 'inprocess' (no set-up), 'processes' (a local process pool of ``workers``,
    default one per core) or 'dask' (a ``dask.distributed`` LocalCluster of ``workers``,
    or the cluster at ``scheduler``, e.g. 'tcp://10.0.0.5:8786'). ``progress``: a bar
    (tqdm: a widget in notebooks, text in a terminal), or a callable(done, total).
    ``on_point(point, rows)`` is called as each point finishes; returning False stops the
    sweep. Stopped or interrupted (Ctrl-C), the result keeps the finished points.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    total = len(spec)
    parts: dict[int, dict[str, list]] = {}
    bar = _bar(progress, total, spec.name)
    t0 = time.perf_counter()
    stopped = False
    notes: list[str] = []

    note_points: dict[str, list[int]] = {}

    def finished(point: int, cols: dict[str, list]) -> bool:
        cols = dict(cols)
        for note in cols.pop("notes", []):
            note_points.setdefault(note, []).append(point)
        parts[point] = cols
        if bar is not None:
            bar(len(parts), total)
        if on_point is not None and on_point(point, _frame(spec, {point: cols})) is False:
            return False
        return True

    try:
        if backend == "inprocess":
            for point in range(total):
                if not finished(point, evaluate_point(spec.scenario(point), spec.metrics, spec.engine)):
                    stopped = True
                    break
        elif backend == "processes":
            stopped = _run_processes(spec, workers, finished)
        else:
            stopped = _run_dask(spec, workers, scheduler, finished, notes)
    except KeyboardInterrupt:
        stopped = True
        notes.append("interrupted: the finished points are kept")
    finally:
        if bar is not None:
            bar(len(parts), total, close=True)
    elapsed = time.perf_counter() - t0
    for note, where in note_points.items():  # each run note once, with the points it holds at
        shown = ", ".join(str(p) for p in sorted(where)[:10]) + (" ..." if len(where) > 10 else "")
        notes.append(f"{note} (point{'s' if len(where) > 1 else ''} {shown})")
    if stopped and not any(n.startswith("interrupted") for n in notes):
        notes.append("stopped: the finished points are kept")
    return SweepResult(spec=spec, table=_frame(spec, parts), complete=len(parts) == total, points_done=len(parts),
                       elapsed_s=elapsed, backend=backend, notes=notes)


def sweep(base: Scenario, grid: Mapping[str, Any] | None = None, *, random: Mapping[str, Any] | None = None,
          points: Sequence[Mapping[str, Any]] | None = None, changes: Mapping[str, Any] | None = None,
          replications: int | None = None, seed: int | None = None, metrics: Sequence[str] | None = None,
          engine: str = "auto", backend: Backend = "inprocess", workers: int | None = None,
          scheduler: str | None = None, progress: bool | Callable[[int, int], None] = True,
          on_point: Callable[[int, pd.DataFrame], bool | None] | None = None) -> SweepResult:
    """build_sweep then run_sweep, in one call (see both)."""
    spec = build_sweep(base, grid=grid, random=random, points=points, changes=changes, replications=replications,
                       seed=seed, metrics=metrics, engine=engine)
    return run_sweep(spec, backend=backend, workers=workers, scheduler=scheduler, progress=progress,
                     on_point=on_point)


def _payloads(spec: SweepSpec) -> Iterable[tuple[int, Scenario, tuple[str, ...] | None, str]]:
    for point in range(len(spec)):
        yield point, spec.scenario(point), spec.metrics, spec.engine


def _run_processes(spec: SweepSpec, workers: int | None, finished) -> bool:
    """A local process pool; at most 2 x workers points in flight (so a stop is prompt)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    workers = workers or os.cpu_count() or 1
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    pending: set = set()
    todo = iter(_payloads(spec))
    stopped = False
    try:
        for payload in itertools.islice(todo, 2 * workers):
            pending.add(pool.submit(_task, payload))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                point, cols = fut.result()
                if not finished(point, cols):
                    stopped = True
            if stopped:
                break
            for payload in itertools.islice(todo, len(done)):
                pending.add(pool.submit(_task, payload))
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    return stopped


def _run_dask(spec: SweepSpec, workers: int | None, scheduler: str | None, finished, notes: list[str]) -> bool:
    """Dask distributed: a LocalCluster (one single-threaded worker process per core) or a scheduler."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ScenarioError([Problem("backend", "the dask backend needs dask.distributed "
                                                "(pip install 'llm-knowledge-sim[scale]')")]) from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
        notes.append(f"dask scheduler {scheduler}")
    else:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    stopped = False
    futures = []
    try:
        futures = [client.submit(_task, payload, pure=False) for payload in _payloads(spec)]
        for fut in as_completed(futures):
            point, cols = fut.result()
            if not finished(point, cols):
                stopped = True
                break
    finally:
        if stopped or any(not f.done() for f in futures):
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
    return stopped


def _bar(progress: bool | Callable[[int, int], None], total: int, name: str):
    """A progress callback (done, total, close=False); tqdm.auto when progress is True."""
    if progress is False or progress is None:
        return None
    if callable(progress):
        return lambda done, total, close=False: progress(done, total)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="point", desc=name, file=sys.stderr, leave=False)

    def update(done: int, total: int, close: bool = False) -> None:
        bar.n = done
        bar.refresh()
        if close:
            bar.close()

    return update
