"""Scale out over many captures on Dask: one task per file, every file with the same config and key."""

from __future__ import annotations

from collections.abc import Callable

from .api import RunResult, run
from .config import Config
from .errors import PktmaskError, UsageError


def sanitize_file(source: str, target: str, config: Config, force: bool) -> RunResult | dict:
    """Run one file; a `PktmaskError` comes back as ``{"input": ..., "error": ...}``.

    Errors travel as plain data so a worker never has to pickle an exception.
    """
    try:
        return run(source, target, config, force=force)
    except PktmaskError as e:
        return {"input": source, "error": str(e)}


def _client(workers: int | None, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--workers/--scheduler need Dask: pip install 'pktmask_nb[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), None
        except OSError as e:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def run_on_dask(
    pairs: list[tuple[str, str]],
    config: Config,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    on_done: Callable[[RunResult | dict], None] | None = None,
) -> tuple[list[RunResult], list[dict]]:
    """Sanitize every ``(input, output)`` pair as a Dask task.

    Parameters
    ----------
    pairs : list of (str, str)
        From `pktmask_nb.files.plan`. Workers must see the same file system.
    config : Config
        Shared by every task; its anonymize key was fixed when it was built, so every file
        gets the same mapping.
    workers : int, optional
        Start a `distributed.LocalCluster` with this many single-threaded worker processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead.
    on_done : callable, optional
        Called with each result (or failure dict) as it completes.

    Returns
    -------
    (results, failures)
        Results in the order of `pairs`; failures as ``{"input", "error"}`` dicts.
    """
    from distributed import as_completed

    client, cluster = _client(workers, scheduler)
    try:
        futures = [client.submit(sanitize_file, s, t, config, force, pure=False) for s, t in pairs]
        for future in as_completed(futures):
            if on_done is not None:
                on_done(future.result())
        outcomes = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    results = [o for o in outcomes if isinstance(o, RunResult)]
    failures = [o for o in outcomes if not isinstance(o, RunResult)]
    return results, failures
