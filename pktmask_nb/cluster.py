"""Scale out over many captures on Dask: one task per file, every file with the same config and key."""

from __future__ import annotations

import os
from collections.abc import Callable

from .api import RunResult, run
from .config import Config
from .errors import PktmaskError, UsageError

CONNECT_SECONDS = 5  # a scheduler that has not answered by then is taken as unreachable
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PRE_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"
NEED_DASK = "--workers/--scheduler need Dask: pip install 'pktmask_nb[dask]'"


def sanitize_file(source: str, target: str, config: Config, force: bool) -> RunResult | dict:
    """Run one file; a `PktmaskError` comes back as ``{"input": ..., "error": ...}``.

    Errors travel as plain data so a worker never has to pickle an exception.
    """
    try:
        return run(source, target, config, force=force)
    except PktmaskError as e:
        return {"input": source, "error": str(e)}


def find_unreachable(pairs: list[tuple[str, str]]) -> list[str]:
    """What this process cannot do of a plan: read an input, or write into an output's directory.

    Runs on every worker before a ``--scheduler`` run, so a worker on another file system
    fails the run up front instead of every file.
    """
    problems = [f"cannot read {s}" for s, _ in pairs if not (os.path.isfile(s) and os.access(s, os.R_OK))]
    for directory in sorted({os.path.dirname(t) for _, t in pairs}):
        if not (os.path.isdir(directory) and os.access(directory, os.W_OK | os.X_OK)):
            problems.append(f"cannot write into {directory}")
    return problems


def _check_workers(client, pairs: list[tuple[str, str]]) -> None:
    for worker, problems in client.run(find_unreachable, pairs).items():
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise UsageError(
                f"the Dask worker {worker} {problems[0]}{more}; workers must see the inputs and outputs at these paths"
            )


def _connect(scheduler: str):
    from distributed import Client

    try:
        return Client(scheduler, timeout=f"{CONNECT_SECONDS}s")
    except (OSError, ValueError) as e:
        reason = " ".join(str(e).split())
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {reason}") from None


def _start_local(workers: int | None):
    import dask
    from distributed import Client, LocalCluster

    # Set before the worker process starts (numpy reads them on import); the shell's values
    # and the user's Dask config win, as distributed gives them precedence.
    environ = {**BLAS_THREADS, **dask.config.get(PRE_SPAWN_ENVIRON, {})}
    with dask.config.set({PRE_SPAWN_ENVIRON: environ}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def _client(workers: int | None, scheduler: str | None):
    """A Dask client and the local cluster it owns (None for a remote scheduler)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(NEED_DASK) from None
    if scheduler:
        return _connect(scheduler), None
    return _start_local(workers)


def _gather(client, pairs, config: Config, force: bool, on_done) -> list:
    from distributed import as_completed

    futures = [client.submit(sanitize_file, s, t, config, force, pure=False) for s, t in pairs]
    for future in as_completed(futures):
        if on_done is not None:
            on_done(future.result())
    return client.gather(futures)


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
        From `pktmask_nb.files.plan`; the output directories must exist.
    config : Config
        Shared by every task; its anonymize key was fixed when it was built, so every file
        gets the same mapping.
    workers : int, optional
        Start a `distributed.LocalCluster` with this many single-threaded worker processes.
        They get ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` = 1
        unless the environment sets them, so no worker carries idle BLAS threads.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead. Paths are made
        absolute here, and every worker must see them: each one checks that it can read the
        inputs and write into the output directories before any file runs. Start remote
        workers with ``dask worker`` (its nanny sets the thread variables above) or, without
        a nanny, export ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1``.
    force : bool
        Replace existing outputs.
    on_done : callable, optional
        Called with each result (or failure dict) as it completes.

    Returns
    -------
    (results, failures)
        Results in the order of `pairs`; failures as ``{"input", "error"}`` dicts.

    Raises
    ------
    UsageError
        Both `workers` and `scheduler`; Dask not installed; the scheduler unreachable within
        `CONNECT_SECONDS`; a worker that cannot see a path.
    """
    if workers is not None and scheduler:
        raise UsageError("--workers and --scheduler exclude each other: --workers starts a local cluster")
    client, cluster = _client(workers, scheduler)
    try:
        if scheduler:
            # A relative path would be resolved in each worker's own directory.
            pairs = [(os.path.abspath(s), os.path.abspath(t)) for s, t in pairs]
            _check_workers(client, pairs)
        outcomes = _gather(client, pairs, config, force, on_done)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    results = [o for o in outcomes if isinstance(o, RunResult)]
    failures = [o for o in outcomes if not isinstance(o, RunResult)]
    return results, failures
