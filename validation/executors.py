"""Where the networks of a sweep run: in this process, on a process pool or on a Dask cluster.

Each backend submits one task per network and hands back futures; :func:`_completed`
keeps a bounded window of tasks in flight and yields each record as it completes, with
the network's seed rebuilt on the worker from (seed, cell, index), so the records do not
depend on where or when a network ran.
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures

from esd.exceptions import BackendUnavailable, InvalidParameter

from .cells import _check_int, network_seed


# -- execution backends ----------------------------------------------------------------------
def _cpu_count() -> int:
    # The CPUs this process may use (cgroups, taskset), not those of the machine.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise BackendUnavailable("dask.distributed is not installed: pip install esd[distributed]") from exc
    return distributed


class _Serial:
    """Runs each task at submission, in this process."""

    window = 1

    def submit(self, fn, *args) -> Future:
        fut = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:  # delivered by fut.result(), as from a pool
            fut.set_exception(exc)
        return fut

    def wait_first(self, futures):
        return futures

    def cancel(self, futures):
        pass

    def close(self):
        pass


class _Pool:
    """concurrent.futures.ProcessPoolExecutor over ``workers`` processes."""

    def __init__(self, workers: int):
        # forkserver where there is one, never fork: a forked worker would inherit the
        # checkpoint lock (and keep it while it outlives a killed sweep) and the threads
        # of this process (tqdm's monitor, a Dask client) in whatever state they are.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        # Two tasks per worker keep every worker busy while the parent writes results.
        self.window = 2 * workers

    def submit(self, fn, *args):
        return self.executor.submit(fn, *args)

    def wait_first(self, futures):
        return wait_futures(futures, return_when=FIRST_COMPLETED).done

    def cancel(self, futures):
        for f in futures:
            f.cancel()

    def close(self):
        self.executor.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """A dask.distributed Client; closes the client and cluster it was given to own."""

    def __init__(self, distributed, client, owned=()):
        self.distributed = distributed
        self.client = client
        self.owned = owned
        self.window = 2 * max(1, sum(client.nthreads().values()))

    def submit(self, fn, *args):
        # pure=False: every network is its own task even if two calls looked alike.
        return self.client.submit(fn, *args, pure=False)

    def wait_first(self, futures):
        return self.distributed.wait(futures, return_when="FIRST_COMPLETED").done

    def cancel(self, futures):
        if futures:
            self.client.cancel(futures)

    def close(self):
        for obj in self.owned:
            obj.close()


def _check_scheduler(scheduler, workers):
    """Validate ``scheduler`` and ``workers`` before anything starts."""
    if workers is not None:
        workers = _check_int("workers", workers, 1)
    if scheduler is None or scheduler == "local":
        return scheduler, workers
    if isinstance(scheduler, str):
        if "://" not in scheduler:
            raise InvalidParameter("scheduler", scheduler, "must be None (local processes), 'local' (a local "
                                   "Dask cluster), a Dask scheduler address such as 'tcp://host:8786', "
                                   "or a distributed.Client")
    elif not isinstance(scheduler, _import_distributed().Client):
        raise InvalidParameter("scheduler", scheduler, "must be None, 'local', a Dask scheduler address "
                               "or a distributed.Client")
    if workers is not None:
        raise InvalidParameter("workers", workers, "is set by the Dask cluster itself; leave it None with "
                               "a scheduler address or a Client")
    return scheduler, workers


def _open_backend(scheduler, workers):
    if scheduler is None:
        n = workers or _cpu_count()
        return _Serial() if n == 1 else _Pool(n)
    distributed = _import_distributed()
    if scheduler == "local":
        cluster = distributed.LocalCluster(n_workers=workers or _cpu_count(), threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        return _Dask(distributed, client, owned=(client, cluster))
    if isinstance(scheduler, str):
        try:
            client = distributed.Client(scheduler)
        except OSError as exc:
            raise BackendUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        return _Dask(distributed, client, owned=(client,))
    return _Dask(distributed, scheduler)


def _run_network(cell_fn, cell, seed, net_index, cell_kwargs):
    """One network of one cell, where a worker runs it. The seed is rebuilt here from
    (seed, cell, index), so it does not depend on which worker runs it, or when."""
    # Copies: a cell function that mutates its arguments must not change the parent's
    # (a serial run shares the objects).
    return cell_fn(copy.deepcopy(cell), net_index, network_seed(seed, cell, net_index),
                   **copy.deepcopy(cell_kwargs))


def _completed(backend, cell_fn, seed, cell_kwargs, tasks):
    """(task, record) for each task (cell, cell id, network index), in order of completion,
    with at most ``backend.window`` tasks in flight. A failing task is raised after the
    records finished alongside it are yielded, with a note naming the network."""
    pending = iter(tasks)
    inflight = {}
    try:
        while True:
            for task in itertools.islice(pending, backend.window - len(inflight)):
                cell, _, net = task
                inflight[backend.submit(_run_network, cell_fn, cell, seed, net, cell_kwargs)] = task
            if not inflight:
                return
            failed = None
            for fut in backend.wait_first(list(inflight)):
                task = inflight.pop(fut)
                try:
                    record = fut.result()
                except Exception as exc:
                    failed = failed or (task, exc)
                    continue
                yield task, record
            if failed is not None:
                (cell, _, net), exc = failed
                exc.add_note(f"while computing network {net} of the sweep cell {cell!r} (seed {seed})")
                raise exc
    finally:
        backend.cancel(list(inflight))
