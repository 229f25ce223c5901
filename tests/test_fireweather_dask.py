"""The one-pass Dask wind distribution: equal to the numpy path, each stored chunk read once, a lost
worker recomputed, and the cluster wiring (local, scheduler address, Slurm, Coiled stand-in)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

from windrisk import conus404, readcount
from windrisk import fireweather as fw
from windrisk import fireweather_dask as fwd
from windrisk.cluster import ClusterError, check_settings, dask_client, slurm_kwargs
from windrisk.config import DEFAULTS, ConfigError, load_config
from windrisk.fireweather_dask import TopK
from windrisk.settings import DaskSettings, Settings, from_mapping

HOURS, NY, NX, CHUNKS = 1000, 9, 7, (96, 5, 4)  # chunks divide neither time nor space
K = fwd.topk_size(HOURS)  # 11


# ---- data -----------------------------------------------------------------------------------
def hard_fields(seed: int = 0) -> dict[str, np.ndarray]:
    """T2, TD2, U10, V10 (time, y, x) float32 with NaN hours, calm hours, many exact ties
    (quantised fields), an all-NaN pixel, pixels with fewer valid hours than k, and a pixel whose
    top hours tie at the threshold with different directions."""
    rng = np.random.default_rng(seed)
    shape = (HOURS, NY, NX)
    t2 = 280.0 + np.round(rng.uniform(0, 30, shape))  # 1 K steps: FFWI values repeat exactly
    td2 = t2 - np.round(rng.uniform(1, 30, shape))
    speed = np.round(rng.gamma(2.0, 2.0, shape))  # whole m/s: 0 is a calm hour
    theta = np.radians(45.0 * rng.integers(0, 8, shape) + 10.0)
    u, v = -speed * np.sin(theta), -speed * np.cos(theta)
    t2[rng.random(shape) < 0.03] = np.nan  # scattered NaN hours
    t2[rng.choice(HOURS, 10, replace=False)] = np.nan  # whole NaN hours
    t2[:, 0, 0] = np.nan  # no valid hour
    t2[5:, 0, 1] = np.nan  # 5 valid hours (< k)
    t2[1:, 0, 2] = np.nan  # 1 valid hour
    # (1, 1): 3 hot windy hours, then 20 dry hours of identical FFWI from 4 directions (p99 falls
    # among them, past k), the rest humid and cool: exactly the 3 first hours are above p99.
    t2[:, 1, 1], td2[:, 1, 1], u[:, 1, 1], v[:, 1, 1] = 285.0, 284.0, 1.0, 0.0
    t2[:23, 1, 1], td2[:23, 1, 1] = 305.0, 260.0
    u[:3, 1, 1], v[:3, 1, 1] = 0.0, -9.0  # from N
    u[3:23, 1, 1], v[3:23, 1, 1] = np.resize([4.0, 0.0, -4.0, 0.0], 20), np.resize([0.0, 4.0, 0.0, -4.0], 20)
    # (2, 2): the top hours are calm (dry, no wind) above windy humid hours: no direction above p99.
    t2[:, 2, 2], td2[:, 2, 2], u[:, 2, 2], v[:, 2, 2] = 285.0, 284.5, 3.0, 0.0
    t2[:40, 2, 2], td2[:40, 2, 2], u[:40, 2, 2] = 310.0, 250.0, 0.0
    return {k: a.astype(np.float32) for k, a in (("T2", t2), ("TD2", td2), ("U10", u), ("V10", v))}


def write_store(path: Path, fields: dict[str, np.ndarray], rotate: bool = True) -> None:
    """A CONUS404-like store (Lambert ``crs``, grid-relative winds, y ascending) of ``fields``."""
    x, y = conus404.pixel_centres(slice(500, 500 + NY), slice(200, 200 + NX))
    conus404.write_hourly_store(
        path, x, y, HOURS, lambda h0, h1: {k: a[h0:h1] for k, a in fields.items()}, chunks=CHUNKS, rotate=rotate
    )


def numpy_reference(path: Path) -> np.ndarray:
    """fireweather.distribution_from_fields over all hours at once, in the store's row order."""
    ds = xr.open_zarr(path, consolidated=False)
    fields = [ds[v].values for v in fw.HOURLY_VARIABLES]
    alpha = [ds[v].values for v in ("SINALPHA", "COSALPHA")] if "SINALPHA" in ds else [None, None]
    return fw.distribution_from_fields(*fields, *alpha)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Earth-relative winds (no SINALPHA/COSALPHA), so that the tie pixel's speeds tie exactly."""
    path = tmp_path_factory.mktemp("hourly") / "hourly.zarr"
    write_store(path, hard_fields(), rotate=False)
    return path


@pytest.fixture(scope="module")
def rotated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CONUS404 style: grid-relative winds with the Lambert grid's SINALPHA/COSALPHA."""
    path = tmp_path_factory.mktemp("hourly") / "rotated.zarr"
    write_store(path, hard_fields(seed=1), rotate=True)
    return path


@pytest.fixture(scope="module")
def reference(store: Path) -> np.ndarray:
    ref = numpy_reference(store)
    # The data exercises what it claims to: all-NaN, ties-only and calm-only pixels are NaN, the
    # tie pixel counts only its 3 hot hours (all from N), most pixels have a distribution.
    assert np.isnan(ref[:, 0, 0]).all() and np.isnan(ref[:, 2, 2]).all()
    assert ref[0, 1, 1] == 1.0 and np.isfinite(ref[0]).sum() > NY * NX // 2
    return ref


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """The rule's real LocalCluster (dask.cluster: local): 2 worker processes, one thread each."""
    with dask_client(_settings(workers=2)) as cl:
        cl.register_plugin(readcount.worker_plugin())
        yield cl


# ---- the top-k arithmetic, pure numpy --------------------------------------------------------
def test_topk_size_covers_the_ranks_numpy_interpolates() -> None:
    n = np.arange(1, 5001)
    lo, hi, _ = fw.quantile_ranks(n, fw.QUANTILE)
    assert int(np.max(n - 1 - lo)) + 1 == fwd.topk_size(5000)  # the deepest rank needed, exactly
    assert fwd.topk_size(HOURS) == 11 and fwd.topk_size(conus404.HOURS) == 3771
    assert fwd.topk_size(1) == 1 and (hi >= lo).all()


def pack(ffwi: np.ndarray, sectors: np.ndarray) -> np.ndarray:
    """(hours, rows, cols) FFWI and sectors → the leaf's (rows, cols, 2 × hours) packed block."""
    return np.concatenate([ffwi.transpose(1, 2, 0), sectors.transpose(1, 2, 0).astype(np.float64)], axis=-1)


def finish(states: Any, k: int) -> np.ndarray:
    """fwd.finish_topk's (rows, cols, 8) as (8, rows, cols)."""
    return np.moveaxis(fwd.finish_topk(states, k=k), -1, 0)


def _tree(states: list[TopK], groups: list[int], k: int) -> list[TopK]:
    """Merge consecutive states in groups of the given sizes (a random reduction tree level)."""
    out, i = [], 0
    for g in groups:
        if i < len(states):
            out.append(fwd.merge_topk(states[i : i + g], k=k))
            i += g
    return out + states[i:]


@settings(max_examples=60, deadline=None)
@given(hours=st.integers(1, 400), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_tree_reduction_equals_numpy_for_any_split_and_grouping(hours: int, seed: int, data: Any) -> None:
    rng = np.random.default_rng(seed)
    ffwi = rng.integers(0, 6, (hours, 3, 4)).astype(np.float64)  # few values: ties everywhere
    ffwi[rng.random(ffwi.shape) < data.draw(st.sampled_from([0.0, 0.3, 0.95]))] = np.nan
    sectors = rng.integers(-1, 8, ffwi.shape).astype(np.int8)  # -1: calm
    k = fwd.topk_size(hours)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, hours - 1)), max_size=12)))) if hours > 1 else []
    parts = np.split(np.arange(hours), cuts)
    states = [fwd.leaf_topk(pack(ffwi[p], sectors[p]), k=k) for p in parts]
    while len(states) > 1:
        states = _tree(states, data.draw(st.lists(st.integers(2, 4), min_size=1, max_size=6)), k)
    np.testing.assert_array_equal(finish(states, k), fw.fire_weather_distribution(ffwi, sectors))


def test_one_value_fewer_than_k_is_not_enough() -> None:
    """The test above can fail: keeping k - 1 values loses the threshold's lower value."""
    hours = 201  # p99 of 201 values: positions 198 and 199 (ascending) → descending ranks 2 and 1
    ffwi = np.arange(hours, dtype=np.float64)[:, None, None]
    sectors = np.zeros((hours, 1, 1), np.int8)
    k = fwd.topk_size(hours)
    packed = pack(ffwi, sectors)
    assert k == 3
    np.testing.assert_array_equal(finish(fwd.leaf_topk(packed, k=k), k), fw.fire_weather_distribution(ffwi, sectors))
    with pytest.raises(IndexError):
        fwd.finish_topk(fwd.leaf_topk(packed, k=k - 1), k=k - 1)


def test_tile_pieces_respect_task_memory() -> None:
    k = fwd.topk_size(conus404.HOURS)
    for memory in (256 << 20, 1 << 30, 4 << 30):
        rows, cols = fwd.tile_pieces((175, 175), k, memory)
        tile = -(-175 // rows) * -(-175 // cols)
        assert fwd.merge_bytes(k, tile) <= memory < fwd.merge_bytes(k, 175 * 175) or (rows, cols) == (1, 1)
    with pytest.raises(ValueError, match=r"dask\.task_memory .* Fix: raise dask\.task_memory"):
        fwd.tile_pieces((175, 175), k, 64 << 20)


# ---- on a real LocalCluster ------------------------------------------------------------------
def test_dask_path_equals_numpy_path_and_reads_each_chunk_once(client: Any, store: Path, reference: np.ndarray) -> None:
    client.run(readcount.reset)
    # task_memory small enough that every stored 5 x 4 chunk is cut into tiles of <= 6 px.
    memory = fwd.merge_bytes(K, 6)
    dist, crs_wkt, transform = fwd.distribution_on_client(client, str(store), task_memory=memory)
    assert fwd.tile_pieces(CHUNKS[1:], K, memory) != (1, 1)
    np.testing.assert_array_equal(dist, reference)  # identical counts → identical fractions, NaN too
    reads = readcount.merged(*client.run(readcount.snapshot).values())
    chunk_files = [p for p in store.rglob("c/*/*/*") if p.parent.parent.parent.parent.name in fw.HOURLY_VARIABLES]
    assert len(chunk_files) == 4 * 11 * 2 * 2
    assert {reads.get(str(p), (0, 0))[0] for p in chunk_files} == {1}
    assert "Lambert Conic Conformal" in CRS.from_wkt(crs_wkt).coordinate_operation.method_name
    assert transform.e > 0
    # The workers run without Dask's sampling profiler and its 64 KiB malloc trimming (cluster.py).
    settings = client.run(
        lambda: (
            __import__("dask").config.get("distributed.worker.profile.enabled"),
            os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        )
    )
    assert set(settings.values()) == {(False, None)}


def test_wind_distribution_on_a_running_scheduler_writes_the_blocked_paths_geotiff(
    client: Any, tmp_path: Path, rotated_store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """dask.cluster: an address. The rule's function connects, logs its progress, writes the
    GeoTIFF of the blocked path (rotated winds, Lambert CRS, north-up) and leaves the cluster up."""
    new, old = tmp_path / "dask.tif", tmp_path / "blocked.tif"
    with caplog.at_level(logging.INFO):
        fwd.wind_distribution(
            str(rotated_store), new, dask_settings=_settings(cluster=client.scheduler.address), progress_every_s=0.01
        )
    fw.derive_distribution(str(rotated_store), old)
    with rasterio.open(new) as a, rasterio.open(old) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert np.isnan(a.nodata) and np.isnan(b.nodata)
        assert {**a.profile, "nodata": 0} == {**b.profile, "nodata": 0}
        assert a.descriptions == b.descriptions and a.tags() == b.tags()
        assert a.transform.e < 0 and a.crs.to_dict()["proj"] == "lcc"
    text = caplog.text
    assert f"Dask cluster: {client.scheduler.address}" in text and "Dask dashboard:" in text
    assert "stored chunks read once" in text and f"{4 * 11 * 4} stored chunks" in text
    assert "tasks done (100 %)" in text and "tasks/s" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    assert len(client.scheduler_info()["workers"]) == 2  # not closed by the rule


def test_coiled_wiring_with_a_stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: Path) -> None:
    """Coiled cannot be reached from here: a stand-in ``coiled`` module records what the rule asks
    for and hands back a LocalCluster, which is then used and closed like a Coiled cluster."""
    from distributed import LocalCluster

    calls: list[dict[str, Any]] = []

    def cluster(**kwargs: Any) -> LocalCluster:
        calls.append(kwargs)
        return LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")

    monkeypatch.setitem(sys.modules, "coiled", types.SimpleNamespace(Cluster=cluster))
    settings = _settings(
        cluster="coiled",
        workers=20,
        threads_per_worker=2,
        memory_per_worker="16GiB",
        coiled={"software": "windrisk-0-1-0", "region": "us-west-2"},
    )
    fwd.wind_distribution(str(store), tmp_path / "d.tif", dask_settings=settings)
    assert calls == [
        {
            "n_workers": 20,
            "worker_options": {"nthreads": 2},
            "worker_memory": "16GiB",
            "software": "windrisk-0-1-0",
            "region": "us-west-2",
        }
    ]
    assert (tmp_path / "d.tif").exists()


def test_a_worker_killed_mid_run_is_recomputed(client: Any, tmp_path: Path, store: Path, reference: np.ndarray) -> None:
    """SIGKILL one worker process once it has finished some tasks: Dask recomputes what it held on
    the other worker, and the result is the same. (Last test on the module's cluster: it leaves
    one worker.)"""
    import psutil
    from distributed.diagnostics.plugin import WorkerPlugin

    flag = tmp_path / "killed"

    class KillOnce(WorkerPlugin):
        def __init__(self, flag: str) -> None:
            self.flag, self.done = flag, 0

        def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
            self.done += finish == "memory"
            if self.done == 15:
                try:
                    fd = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # the first worker only
                except FileExistsError:
                    return
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)

    client.register_plugin(KillOnce(str(flag)))
    pids = set(client.run(os.getpid).values())
    dist, _, _ = fwd.distribution_on_client(client, str(store))
    killed = int(flag.read_text())  # written just before the kill, mid-run
    assert killed in pids and not psutil.pid_exists(killed)
    np.testing.assert_array_equal(dist, reference)


# ---- settings and errors -------------------------------------------------------------------
def _settings(**over: Any) -> DaskSettings:
    """The ``dask`` section: the schema's defaults with ``over`` (not validated: the checks are tested)."""
    return from_mapping(DaskSettings, {**DEFAULTS["dask"], **over})


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"cluster": "nowhere"}, r"dask\.cluster is 'nowhere'\. Fix: use one of"),
        ({"cluster": "slurm"}, r"dask\.workers is 0 with dask\.cluster: slurm\. Fix"),
        ({"memory_per_worker": "1GiB", "threads_per_worker": 2}, r"dask\.memory_per_worker \(1GiB\) is below"),
        ({"task_memory": "lots"}, r"dask\.task_memory is 'lots'"),
    ],
)
def test_bad_settings_give_one_clear_error(over: dict[str, Any], expected: str) -> None:
    with pytest.raises(ClusterError, match=expected):
        check_settings(_settings(**over))


def test_missing_coiled_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "coiled", None)  # import coiled raises ImportError
    with (
        pytest.raises(ClusterError, match="coiled package is not installed. Fix: pip install coiled"),
        dask_client(_settings(cluster="coiled", workers=2)),
    ):
        pass


def test_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import windrisk.cluster

    monkeypatch.setattr(windrisk.cluster, "CONNECT_TIMEOUT", "1s")
    with (
        pytest.raises(ClusterError, match=r"cannot reach the scheduler at tcp://127\.0\.0\.1:9\b"),
        dask_client(_settings(cluster="tcp://127.0.0.1:9")),
    ):
        pass


def test_config_section_is_validated_and_defaulted(tmp_path: Path) -> None:
    from conftest import DEMO_CONFIG

    demo_text = DEMO_CONFIG.read_text()
    without_dask = tmp_path / "no-dask.yaml"
    without_dask.write_text(demo_text.split("\ndask:\n")[0] + "\n")
    assert load_config(without_dask)["dask"] == DEFAULTS["dask"]
    demo_dask = load_config(DEMO_CONFIG)["dask"]
    assert demo_dask["memory_per_worker"] == "1GiB"  # the demo's override is kept ...
    assert demo_dask["cluster"] == DEFAULTS["dask"]["cluster"]  # ... and the rest is defaulted
    bad = tmp_path / "c.yaml"
    bad.write_text(demo_text.split("\ndask:\n")[0] + "\ndask:\n  cluster: my-laptop\n")
    with pytest.raises(ConfigError, match=r"'dask\.cluster': 'my-laptop' does not match"):
        load_config(bad)


def test_slurm_job_script_carries_the_settings() -> None:
    from dask_jobqueue import SLURMCluster

    settings = _settings(
        cluster="slurm",
        workers=3,
        threads_per_worker=2,
        memory_per_worker="8GiB",
        slurm={"queue": "compute", "account": "proj", "walltime": "02:00:00"},
    )
    with SLURMCluster(**slurm_kwargs(settings), scheduler_options={"host": "127.0.0.1"}) as cluster:
        script = cluster.job_script()
    for line in (
        "#SBATCH -p compute",
        "#SBATCH -A proj",
        "#SBATCH -t 02:00:00",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=8G",
        "--nthreads 2",
        "--memory-limit 8.00GiB",
        "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False",
    ):
        assert line in script, (line, script)


@pytest.mark.slurm
@pytest.mark.slow
def test_a_real_slurm_cluster_computes_the_same(tmp_path: Path, rotated_store: Path) -> None:
    """dask.cluster: slurm on the one-node test cluster (scripts/slurm/start_cluster.sh): the worker
    runs as a Slurm job and talks to the scheduler over loopback only."""
    if shutil.which("sinfo") is None or subprocess.run(["sinfo", "-h"], capture_output=True, check=False).returncode:
        pytest.skip("no running Slurm cluster here (make test starts one: scripts/slurm/start_cluster.sh)")
    out = tmp_path / "d.tif"
    settings = _settings(
        cluster="slurm",
        workers=1,
        memory_per_worker="3GiB",
        task_memory="1GiB",
        slurm={"interface": "lo", "walltime": "00:10:00", "log_directory": str(tmp_path / "slurm-logs")},
    )
    fwd.wind_distribution(str(rotated_store), out, dask_settings=settings)
    with rasterio.open(out) as src:
        np.testing.assert_array_equal(src.read(), numpy_reference(rotated_store)[:, ::-1])
    assert list((tmp_path / "slurm-logs").glob("*.err")), "no Slurm job log: the worker did not run under Slurm"


@pytest.mark.slow
def test_the_rule_logs_progress_and_equals_the_numpy_path(demo_run: Path, demo_cfg: Settings) -> None:
    """The demo run's wind_distribution job: one Snakemake job on a LocalCluster, a log with the
    cluster, its dashboard line and progress, and the GeoTIFF of the numpy path."""
    from windrisk.paths import RunPaths

    paths = RunPaths(demo_cfg.results)
    text = Path(paths.log("wind_distribution", "wind_distribution")).read_text()
    assert "Dask cluster: LocalCluster" in text and "Dask dashboard:" in text
    assert "stored chunks read once" in text and "tasks done (100 %)" in text
    hourly = demo_cfg.inputs.wind.hourly
    ds = xr.open_zarr(hourly, consolidated=False)
    ref = fw.distribution_from_fields(
        *(ds[v].values for v in fw.HOURLY_VARIABLES), ds["SINALPHA"].values, ds["COSALPHA"].values
    )
    dist, _ = fw.north_up(ref, fw.hourly_frame(ds, hourly)[1])
    with rasterio.open(paths.wind_distribution) as src:
        np.testing.assert_array_equal(src.read(), dist)
