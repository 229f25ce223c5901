"""Dask clusters for the workflow's one distributed stage (``wind_distribution``), from the config's
``dask`` section, and progress in the rule's log.

``dask.cluster`` says where the work goes: ``local`` (a ``LocalCluster`` inside the rule's job: the
demo, CI, one large machine), ``slurm`` (``dask_jobqueue.SLURMCluster``: one Slurm job per worker),
``coiled`` (``coiled.Cluster``; the ``coiled`` package is optional and not installed by default) or
the address of a scheduler that is already running (``tcp://host:8786``). The rule stays one
Snakemake job; it starts the cluster (or connects), runs the graph there and closes what it started.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from windrisk.settings import DaskSettings

log = logging.getLogger(__name__)

NAMED_CLUSTERS: Final = ("local", "slurm", "coiled")
ADDRESS: Final = re.compile(r"^[a-z][a-z0-9+]*://\S+$")
# Worker settings, measured on the FFWI tasks (many small numpy calls) on the 2-core VM:
# - the statistical profiler (a thread sampling every 10 ms, for the dashboard's profile page)
#   slowed them 1.5-1.9x through GIL hand-offs;
# - MALLOC_TRIM_THRESHOLD_=65536, set by Dask's nannies so freed memory returns to the OS at once,
#   made every temporary fault its pages in again: 3-5x where page faults are dear. Workers keep
#   glibc's adaptive default, as any process; tasks' sizes and memory_per_worker still bound them.
# Applied to local and Coiled workers (Coiled sends the client's Dask config); Slurm workers read
# their own config, so their job script exports the profiler setting.
WORKER_CONFIG: Final = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}
SLURM_PROLOGUE: Final = ("export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False",)
# A worker holds a running task's memory plus finished results waiting for their merge.
WORKER_TASKS_HELD: Final = 2
CONNECT_TIMEOUT: Final = "60s"


class ClusterError(ValueError):
    """The ``dask`` config cannot give a cluster; the message names the key and the fix."""


# A size as the config schema allows it: '4GiB' (powers of 1024), '500 MB' (powers of 1000), as
# Dask reads it. Parsed here, not by dask.utils: importing Dask at parse time (windrisk.sizing)
# costs a dry run ~1 s.
SIZE: Final = re.compile(r"^([0-9.]+) ?([KMGT])(i?)B$")


def parse_size(text: str) -> int:
    """Bytes in a size such as '4GiB' or '500 MB'; ValueError for anything else."""
    match = SIZE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size such as 4GiB or 500 MB")
    number, prefix, binary = match.groups()
    return int(float(number) * (1024 if binary else 1000) ** ("KMGT".index(prefix) + 1))


def parse_memory(settings: DaskSettings, key: str) -> int:
    """``dask.<key>`` (e.g. '4GiB') → bytes; ClusterError naming the key when unreadable."""
    try:
        return parse_size(getattr(settings, key))
    except ValueError as exc:
        raise ClusterError(f"dask.{key} is {getattr(settings, key)!r} ({exc}). Fix: give a size such as 4GiB") from None


def check_settings(settings: DaskSettings) -> None:
    """Cross-key checks the schema cannot state: cluster kind, worker count, memory budget."""
    cluster = settings.cluster
    if cluster not in NAMED_CLUSTERS and not ADDRESS.match(cluster):
        raise ClusterError(
            f"dask.cluster is {cluster!r}. Fix: use one of {list(NAMED_CLUSTERS)} or a "
            "scheduler address such as tcp://10.0.0.5:8786"
        )
    if cluster in ("slurm", "coiled") and settings.workers < 1:
        raise ClusterError(
            f"dask.workers is {settings.workers} with dask.cluster: {cluster}. Fix: set "
            "dask.workers to the number of workers to start (Slurm jobs or Coiled VMs)"
        )
    worker, task = parse_memory(settings, "memory_per_worker"), parse_memory(settings, "task_memory")
    need = WORKER_TASKS_HELD * settings.threads_per_worker * task
    if cluster in NAMED_CLUSTERS and worker < need:
        raise ClusterError(
            f"dask.memory_per_worker ({settings.memory_per_worker}) is below {WORKER_TASKS_HELD} x "
            f"dask.threads_per_worker ({settings.threads_per_worker}) x dask.task_memory "
            f"({settings.task_memory}). Fix: raise memory_per_worker or lower task_memory"
        )


def local_workers(settings: DaskSettings, threads: int) -> int:
    """Workers of a local cluster: ``dask.workers``, or as many as the rule's threads hold."""
    return settings.workers or max(1, threads // settings.threads_per_worker)


def _local(settings: DaskSettings, threads: int) -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=local_workers(settings, threads),
        threads_per_worker=settings.threads_per_worker,
        memory_limit=settings.memory_per_worker,
        processes=True,
        dashboard_address=":0",
    )  # a free port: two runs on one machine do not clash


def slurm_kwargs(settings: DaskSettings) -> dict[str, Any]:
    """Keyword arguments for ``dask_jobqueue.SLURMCluster``: one single-process worker per job."""
    extra = dict(settings.slurm)
    prologue = [*SLURM_PROLOGUE, *extra.pop("job_script_prologue", [])]
    return {
        "cores": settings.threads_per_worker,
        "processes": 1,
        "memory": settings.memory_per_worker,
        "job_script_prologue": prologue,
        **extra,
    }


def _slurm(settings: DaskSettings) -> Any:
    from dask_jobqueue import SLURMCluster

    try:
        cluster = SLURMCluster(**slurm_kwargs(settings))
    except (TypeError, ValueError) as exc:
        raise ClusterError(
            f"dask.slurm: dask_jobqueue.SLURMCluster rejected {sorted(settings.slurm)} "
            f"({exc}). Fix: use SLURMCluster's keyword arguments (queue, account, "
            "walltime, job_extra_directives, ...)"
        ) from None
    cluster.scale(jobs=settings.workers)
    return cluster


def coiled_kwargs(settings: DaskSettings) -> dict[str, Any]:
    """Keyword arguments for ``coiled.Cluster``; a named VM type (worker_vm_types) decides the memory."""
    kwargs: dict[str, Any] = {
        "n_workers": settings.workers,
        "worker_options": {"nthreads": settings.threads_per_worker},
        **settings.coiled,
    }
    if "worker_vm_types" not in kwargs:
        kwargs.setdefault("worker_memory", settings.memory_per_worker)
    return kwargs


def _coiled(settings: DaskSettings) -> Any:
    try:
        import coiled
    except ImportError:
        raise ClusterError(
            "dask.cluster is 'coiled' but the coiled package is not installed. Fix: "
            "pip install coiled (windrisk's `coiled` extra) and run `coiled login`, or "
            "choose local, slurm or a scheduler address"
        ) from None
    try:
        return coiled.Cluster(**coiled_kwargs(settings))
    except TypeError as exc:
        raise ClusterError(
            f"dask.coiled: coiled.Cluster rejected {sorted(settings.coiled)} ({exc}). "
            "Fix: use coiled.Cluster's keyword arguments (software, region, "
            "worker_vm_types, ...)"
        ) from None


def start_cluster(settings: DaskSettings, threads: int = 1) -> Any:
    """A new cluster for ``dask.cluster`` local / slurm / coiled; None for a scheduler address."""
    import dask

    check_settings(settings)
    kind = settings.cluster
    with dask.config.set(WORKER_CONFIG):  # read when the workers are created
        if kind == "local":
            return _local(settings, threads)
        if kind == "slurm":
            return _slurm(settings)
        if kind == "coiled":
            return _coiled(settings)
    return None


@contextmanager
def dask_client(settings: DaskSettings, threads: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` on the configured cluster; closes what it started.

    ``threads`` (the rule's) sets the number of local workers when ``dask.workers`` is 0.
    """
    from distributed import Client

    # Dask's INFO records (every connection opened and closed) would drown the progress lines.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = start_cluster(settings, threads)
    try:
        try:
            client = Client(cluster if cluster is not None else settings.cluster, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"dask.cluster: cannot reach the scheduler at {settings.cluster} ({exc}). "
                "Fix: start it (`dask scheduler`) or set dask.cluster to local"
            ) from None
        with client:
            where = settings.cluster if cluster is None else type(cluster).__name__
            log.info("Dask cluster: %s, scheduler %s", where, client.scheduler.address)
            log.info("Dask dashboard: %s", dashboard_link(client) or "none (install bokeh where the scheduler runs)")
            yield client
    finally:
        if cluster is not None:
            cluster.close()


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def dashboard_link(client: Any) -> str:
    """The dashboard URL, or '' when there is none: the scheduler's web server shows the dashboard
    only where bokeh is installed (it is not a dependency of windrisk)."""
    services = client.scheduler_info().get("services", {})
    if "dashboard" not in services or not client.run_on_scheduler(_has_bokeh):
        return ""
    return client.dashboard_link


def _progress_bar_class() -> type:
    from distributed.diagnostics.progressbar import ProgressBar

    class LogProgress(ProgressBar):
        """distributed's progress feed (all tasks the targets depend on), written to the log."""

        def __init__(self, keys: Sequence[Any], scheduler: str, what: str, every_s: float) -> None:
            super().__init__(keys, scheduler, interval=f"{min(every_s, 1.0)}s", complete=True)
            self.what, self.every_s, self.last = what, every_s, float("-inf")

        def _draw_bar(self, remaining: int, all: int, **kwargs: Any) -> None:  # names are distributed's
            now = time.monotonic()
            if remaining and now - self.last < self.every_s:
                return
            self.last = now
            done, elapsed = all - remaining, max(self.elapsed, 1e-9)
            rate = done / elapsed
            eta = f", ~{remaining / rate / 60:.1f} min left" if rate > 0 and remaining else ""
            log.info(
                "%s: %d / %d tasks done (%.0f %%) in %.0f s, %.1f tasks/s%s",
                self.what,
                done,
                all,
                100.0 * done / max(all, 1),
                elapsed,
                rate,
                eta,
            )

    return LogProgress


def log_progress(futures: Sequence[Any], client: Any, what: str, every_s: float = 30.0) -> None:
    """Block until ``futures`` finish (or fail), logging tasks done / total with a rate every ``every_s``."""
    from distributed.utils import LoopRunner

    bar = _progress_bar_class()(futures, client.scheduler.address, what, every_s)
    runner = LoopRunner()
    try:
        runner.run_sync(bar.listen)
    finally:
        runner.stop()
