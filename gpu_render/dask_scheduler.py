"""Where Dask work runs: a ``scheduler=`` value resolved to what ``dask.compute`` takes (a local
scheduler name, a Client, a connection opened to an address), the workers' table, and a local
cluster for ``--workers N``."""
from __future__ import annotations

import contextlib
import os
import time

from .errors import RenderError

LOCAL_SCHEDULERS = ("threads", "threading", "sync", "synchronous", "single-threaded",
                    "processes", "multiprocessing")

_CLIENTS = {}   # scheduler address -> the Client this module opened to it


def _connect(address: str):
    if address not in _CLIENTS or _CLIENTS[address].status in ("closed", "closing"):
        try:
            from distributed import Client
        except ImportError:
            raise RenderError("a scheduler address needs the 'distributed' package; install dask[distributed].") from None
        try:
            _CLIENTS[address] = Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise RenderError(f"could not connect to the Dask scheduler at {address}: {exc}") from None
    return _CLIENTS[address]


def resolve_scheduler(scheduler):
    """(value for dask.compute's ``scheduler=``, the distributed Client or None)."""
    if scheduler is None:
        import dask.base
        get = dask.base.get_scheduler()
        client = getattr(get, "__self__", None)
        if client is not None and hasattr(client, "scheduler_info"):
            return client, client
        return None, None
    if isinstance(scheduler, str):
        if scheduler in LOCAL_SCHEDULERS:
            return scheduler, None
        client = _connect(scheduler)
        return client, client
    if hasattr(scheduler, "scheduler_info") and hasattr(scheduler, "get"):
        return scheduler, scheduler
    raise RenderError(f"scheduler must be a dask Client, a scheduler address or one of "
                      f"{', '.join(LOCAL_SCHEDULERS[:3])}; got {scheduler!r}.")


_WORKERS = {}   # id(client) -> (time, {address: worker info}), refreshed every WORKERS_TTL_S


WORKERS_TTL_S = 2.0


def worker_table(client) -> dict:
    """The scheduler's worker table (nthreads, memory_limit), re-asked at most every 2 s."""
    now = time.monotonic()
    seen = _WORKERS.get(id(client))
    if seen is None or now - seen[0] > WORKERS_TTL_S or seen[2] is not client:
        seen = (now, client.scheduler_info(n_workers=-1)["workers"], client)
        _WORKERS[id(client)] = seen
    return seen[1]


@contextlib.contextmanager
def local_client(n_workers: int):
    """A Client on a LocalCluster of ``n_workers`` processes sharing this machine's cores."""
    from distributed import Client, LocalCluster
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client
