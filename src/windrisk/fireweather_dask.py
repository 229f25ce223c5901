"""The fire-weather wind-direction distribution in one streaming pass on a Dask cluster.

Same result as ``fireweather.distribution_from_fields`` over all hours (identical counts), but each
stored chunk of the hourly archive is read once and the archive is never rechunked:

* **Leaf** (one task per stored chunk of T2/TD2/U10/V10): FFWI (float64) and from-direction sector
  of every hour, by the very functions of the numpy path (``fireweather.hourly_index``), packed
  per pixel as one float64 array (the chunk's FFWI values, then their sectors) so that they travel
  together with each pixel's hours contiguous; split in space into tiles when a tile's top-k would
  not fit ``task_memory``.
* **Top-k tree reduction over time** (``dask.array.reduction``, ``split_every`` inputs per merge):
  per pixel the ``k`` largest FFWI with their sectors, and the number of valid (non-NaN) hours.
* **Aggregate** per tile: the p99 threshold from the kept values and each pixel's own count, and
  the sector histogram of the hours strictly above it.

**Why k values are enough, exactly.** numpy's linear p99 of ``n`` valid hours interpolates between
the sorted values at ascending positions ``lo = floor(0.99 (n-1))`` and ``hi = min(lo+1, n-1)``,
i.e. descending ranks ``n-1-lo`` and ``n-1-hi``. ``k = max over n <= hours of (n-1-lo(n)) + 1``
(computed with the same floating-point expression, so rounding cannot bite) covers both ranks for
every pixel, whatever its NaN hours. The threshold ``t`` is ``fireweather.lerp`` of those two values,
so ``t >= value at lo``; every hour strictly above ``t`` is strictly above the k-th largest value and
therefore among any top-k selection, however ties at the k-th value were broken. Hours equal to
``t`` are not counted by either path. Calm hours (sector -1) take part in the top-k and the
threshold but match no sector; NaN hours sort last and are never kept ahead of a valid hour.

**Memory.** A top-k state is 9 bytes (float64 + int8) × k × tile pixels. A merge holds its
``split_every`` inputs and its output ((split_every + 1) states) plus temporaries bounded by working
in bands of rows; the tile is the largest piece of a stored chunk for which that stays within
``dask.task_memory``. A leaf holds one stored chunk of the 4 variables plus its packed copy (about
32 bytes per pixel-hour) and small slab temporaries (``SLAB_PX``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from windrisk.fireweather import (
    DIRECTIONS,
    HOURLY_VARIABLES,
    QUANTILE,
    check_speed_unit,
    hourly_frame,
    hourly_index,
    lerp,
    north_up,
    open_hourly,
    quantile_ranks,
    sector_fractions,
    static_field,
    write_distribution,
)

if TYPE_CHECKING:
    import dask.array as da
    import xarray as xr
    from affine import Affine

    from windrisk.settings import DaskSettings

log = logging.getLogger(__name__)

SPLIT_EVERY: Final = 4
STATE_BYTES: Final = 9  # per kept hour and pixel: float64 value + int8 sector
BAND_BYTES: Final = 64 << 20  # temporaries of one band of rows in a merge or the aggregate
SLAB_PX: Final = 1 << 15  # pixel-hours per slab when a leaf computes FFWI: 256 KiB float64 temporaries
LEAF_BYTES_PER_PX_HOUR: Final = 32  # 4 float32 inputs + the packed float64 (value, sector) pair


@dataclass(frozen=True)
class TopK:
    """Per pixel: up to k (value, sector) pairs in no order (NaN values never ahead of a valid one),
    and the number of valid hours seen. Hours run along the last, contiguous axis."""

    values: np.ndarray  # float64 (rows, cols, kept)
    sectors: np.ndarray  # int8 (rows, cols, kept)
    n_valid: np.ndarray  # int64 (rows, cols)


@dataclass(frozen=True)
class Plan:
    """What the graph will do: sizes for the log and the memory statement."""

    hours: int
    k: int
    stored_chunks: int  # of the 4 variables together
    tiles: int
    tile_px: int
    merge_bytes: int  # peak of one merge task on the largest tile
    leaf_bytes: int  # peak of one leaf task on the largest stored chunk


def topk_size(hours: int, q: float = QUANTILE) -> int:
    """Values per pixel that hold the q-quantile of any n <= ``hours`` valid hours and every hour above it."""
    n = np.arange(1, max(hours, 1) + 1)
    lo, _, _ = quantile_ranks(n, q)
    return int(np.max(n - 1 - lo)) + 1


def merge_bytes(k: int, tile_px: int, split_every: int = SPLIT_EVERY) -> int:
    """Peak bytes of one merge: its inputs and output states plus one band of temporaries."""
    return (split_every + 1) * STATE_BYTES * k * tile_px + BAND_BYTES


def tile_pieces(chunk: tuple[int, int], k: int, task_memory: int) -> tuple[int, int]:
    """Fewest (rows, cols) pieces to cut a stored (rows, cols) chunk into so a merge stays within
    ``task_memory``; ValueError naming ``dask.task_memory`` when even one pixel does not fit."""
    max_px = (task_memory - BAND_BYTES) // ((SPLIT_EVERY + 1) * STATE_BYTES * k)
    if max_px < 1:
        need = merge_bytes(k, 1)
        raise ValueError(
            f"dask.task_memory ({task_memory} bytes) cannot hold the top {k} hours of one "
            f"pixel in a merge ({need} bytes). Fix: raise dask.task_memory to at least "
            f"{math.ceil(need / 2**20)} MiB"
        )
    best = (chunk[0], chunk[1])
    for rows_pieces in range(1, chunk[0] + 1):
        cols_max = max_px // math.ceil(chunk[0] / rows_pieces)
        if cols_max >= 1:
            pieces = (rows_pieces, math.ceil(chunk[1] / cols_max))
            if pieces[0] * pieces[1] < best[0] * best[1]:
                best = pieces
    return best


def _split(chunks: Sequence[int], pieces: int) -> tuple[int, ...]:
    """Each chunk length cut into ``pieces`` near-equal parts: a refinement, so no piece spans two
    stored chunks and none is read twice."""
    out: list[int] = []
    for c in chunks:
        n = min(pieces, c)
        out += [c // n + (1 if i < c % n else 0) for i in range(n)]
    return tuple(out)


# ---- the numpy steps (run inside tasks) -----------------------------------------------------------
def packed_index(
    t2: np.ndarray,
    td2: np.ndarray,
    u10: np.ndarray,
    v10: np.ndarray,
    sinalpha: np.ndarray | None = None,
    cosalpha: np.ndarray | None = None,
    speed_unit: str = "m/s",
) -> np.ndarray:
    """One stored chunk, given as (rows, cols, hours) views → float64 (rows, cols, 2 × hours): each
    pixel's FFWI for its hours, then their sectors. Computed a few rows at a time over all hours
    (about SLAB_PX pixel-hours), so temporaries stay small; the functions are elementwise, so the
    slabs change no bit. ``sin/cosalpha`` are (rows, cols, 1)."""
    rows, cols, hours = t2.shape
    out = np.empty((rows, cols, 2 * hours), dtype=np.float64)
    band = max(1, SLAB_PX // max(1, cols * hours))
    fields = [a.transpose(2, 0, 1) for a in (t2, td2, u10, v10)]  # views in the stored layout
    # float32 → float64 is exact, so casting once here changes no bit of what the functions compute.
    rot = (
        [np.asarray(a[..., 0], np.float64) for a in (sinalpha, cosalpha)]
        if sinalpha is not None and cosalpha is not None
        else None
    )
    for r0 in range(0, rows, band):
        rs = slice(r0, r0 + band)
        t, td, u, v = (f[:, rs] for f in fields)
        alpha = (rot[0][rs], rot[1][rs]) if rot else (None, None)
        ffwi, sectors = hourly_index(
            np.asarray(t, np.float64), np.asarray(td, np.float64), u, v, *alpha, speed_unit=speed_unit
        )
        out[rs, :, :hours] = ffwi.transpose(1, 2, 0)
        out[rs, :, hours:] = sectors.transpose(1, 2, 0)
    return out


def _top(values: np.ndarray, sectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest values per pixel (NaN count as smallest) with their sectors, in no order."""
    if values.shape[-1] <= k:
        return values, sectors
    idx = np.argpartition(-values, k - 1, axis=-1)[..., :k]  # -NaN is NaN: partitioned last
    return np.take_along_axis(values, idx, axis=-1), np.take_along_axis(sectors, idx, axis=-1)


def leaf_topk(
    packed: np.ndarray, axis: Any = None, keepdims: bool = True, *, k: int, computing_meta: bool = False
) -> TopK | np.ndarray:
    """Packed hours (rows, cols, 2 × hours) → their TopK (``axis``, ``keepdims`` and
    ``computing_meta`` are dask's: it calls the function on an empty array to learn the output type)."""
    if computing_meta:
        return packed
    hours = packed.shape[-1] // 2
    values = packed[..., :hours]
    n_valid = np.count_nonzero(~np.isnan(values), axis=-1).astype(np.int64)
    return TopK(*_top(values, packed[..., hours:].astype(np.int8), k), n_valid)


def _band_rows(kept: int, cols: int, factor: int) -> int:
    """Rows per band so that ``factor`` bytes per kept value stay within BAND_BYTES."""
    return max(1, BAND_BYTES // max(1, kept * cols * factor))


def merge_topk(states: TopK | Sequence[TopK], axis: Any = None, keepdims: bool = True, *, k: int) -> TopK:
    """TopK states of disjoint hour sets → the TopK of their union, band by band of rows."""
    states = [states] if isinstance(states, TopK) else list(states)
    if len(states) == 1:
        return states[0]
    total = sum(s.values.shape[-1] for s in states)
    kept = min(k, total)
    rows, cols = states[0].n_valid.shape
    values = np.empty((rows, cols, kept), np.float64)
    sectors = np.empty((rows, cols, kept), np.int8)
    band = _band_rows(total, cols, 34)  # concatenated values + sectors, negated keys, int64 indices
    for r0 in range(0, rows, band):
        sl = slice(r0, r0 + band)
        v, s = _top(
            np.concatenate([st.values[sl] for st in states], axis=-1),
            np.concatenate([st.sectors[sl] for st in states], axis=-1),
            kept,
        )
        values[sl], sectors[sl] = v, s
    return TopK(values, sectors, sum(s.n_valid for s in states))


def finish_topk(
    states: TopK | Sequence[TopK], axis: Any = None, keepdims: bool = True, *, k: int, q: float = QUANTILE
) -> np.ndarray:
    """TopK states → (rows, cols, 8) float32 fractions of the hours strictly above each pixel's
    q-quantile, as ``fireweather.fire_weather_distribution`` gives over all hours."""
    state = merge_topk(states, k=k)
    rows, cols, kept = state.values.shape
    out = np.empty((rows, cols, len(DIRECTIONS)), np.float32)
    band = _band_rows(kept, cols, 26)  # int64 order, sorted values and sectors, mask
    for r0 in range(0, rows, band):
        sl = slice(r0, r0 + band)
        n = state.n_valid[sl]
        order = np.argsort(-state.values[sl], axis=-1)  # descending, NaN last
        desc = np.take_along_axis(state.values[sl], order, axis=-1)
        lo, hi, frac = quantile_ranks(n, q)
        last = np.maximum(n - 1, 0)
        v_lo = np.take_along_axis(desc, (last - lo)[..., None], axis=-1)[..., 0]
        v_hi = np.take_along_axis(desc, (last - hi)[..., None], axis=-1)[..., 0]
        threshold = np.where(n > 0, lerp(v_lo, v_hi, frac), np.nan)
        with np.errstate(invalid="ignore"):
            fire = desc > threshold[..., None]
        sectors = np.take_along_axis(state.sectors[sl], order, axis=-1)
        out[sl] = np.moveaxis(sector_fractions(fire, sectors, axis=-1), 0, -1)
    return out


# ---- the graph --------------------------------------------------------------------------------
def distribution_graph(ds: xr.Dataset, speed_unit: str, task_memory: int) -> tuple[da.Array, Plan]:
    """Hourly dataset opened with stored chunks (``open_hourly(..., chunks={})``) → the lazy
    (8, y, x) float32 distribution in the store's row order, and its plan."""
    import dask.array as da

    check_speed_unit(speed_unit)
    # (y, x, time) views of the stored chunks: each pixel's hours contiguous once packed.
    fields = [ds[v].transpose("time", "y", "x").data.transpose(1, 2, 0) for v in HOURLY_VARIABLES]
    ychunks, xchunks, tchunks = fields[0].chunks
    hours = fields[0].shape[2]
    k = topk_size(hours)
    extra = []
    if "SINALPHA" in ds and "COSALPHA" in ds:
        extra = [static_field(ds[v]).data.rechunk((ychunks, xchunks))[..., None] for v in ("SINALPHA", "COSALPHA")]
    packed = da.map_blocks(
        packed_index,
        *fields,
        *extra,
        speed_unit=speed_unit,
        dtype=np.float64,
        chunks=(ychunks, xchunks, tuple(2 * c for c in tchunks)),
        name="wind-hours",
    )
    pieces = tile_pieces((max(ychunks), max(xchunks)), k, task_memory)
    tiles = packed.rechunk({0: _split(ychunks, pieces[0]), 1: _split(xchunks, pieces[1])})
    dist = da.reduction(
        tiles,
        chunk=partial(leaf_topk, k=k),
        combine=partial(merge_topk, k=k),
        aggregate=partial(finish_topk, k=k),
        axis=2,
        keepdims=True,
        output_size=len(DIRECTIONS),
        concatenate=False,
        split_every={2: SPLIT_EVERY},
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
        name="wind-topk",
    )
    tile_px = max(tiles.chunks[0]) * max(tiles.chunks[1])
    plan = Plan(
        hours=hours,
        k=k,
        stored_chunks=len(HOURLY_VARIABLES) * math.prod(fields[0].numblocks),
        tiles=tiles.numblocks[0] * tiles.numblocks[1],
        tile_px=tile_px,
        merge_bytes=merge_bytes(min(k, hours), tile_px),
        leaf_bytes=LEAF_BYTES_PER_PX_HOUR * max(tchunks) * max(ychunks) * max(xchunks),
    )
    return dist.transpose(2, 0, 1), plan


def distribution_on_client(
    client: Any,
    hourly_location: Any,
    speed_unit: str = "m/s",
    task_memory: int = 1 << 30,
    progress_every_s: float = 30.0,
) -> tuple[np.ndarray, str, Affine]:
    """Compute the distribution on ``client``'s cluster → ((8, y, x) float32 in the store's row
    order, CRS WKT, pixel-edge Affine). Lost workers' tasks are recomputed by Dask."""
    from windrisk.cluster import log_progress

    ds = open_hourly(hourly_location, chunks={})
    crs_wkt, transform = hourly_frame(ds, str(hourly_location))
    dist, plan = distribution_graph(ds, speed_unit, task_memory)
    log.info(
        "wind distribution: %d hours, top %d per pixel; %d stored chunks read once; %d tiles of "
        "<= %d px; peak per task ~%.0f MiB (merge), ~%.0f MiB (leaf)",
        plan.hours,
        plan.k,
        plan.stored_chunks,
        plan.tiles,
        plan.tile_px,
        plan.merge_bytes / 2**20,
        plan.leaf_bytes / 2**20,
    )
    future = client.compute(dist)
    log_progress([future], client, "wind distribution", progress_every_s)
    return np.asarray(future.result()), crs_wkt, transform


def wind_distribution(
    hourly_location: str,
    out_path: str | Path,
    speed_unit: str = "m/s",
    dask_settings: DaskSettings | None = None,
    threads: int = 1,
    progress_every_s: float = 30.0,
) -> None:
    """Hourly Zarr store → the 8-band GeoTIFF of ``fireweather.derive_distribution``, computed on
    the Dask cluster of ``dask_settings`` (the config's ``dask`` section; defaults when None) and
    written atomically."""
    from windrisk.cluster import dask_client, parse_memory
    from windrisk.config import DEFAULTS
    from windrisk.settings import DaskSettings, from_mapping

    settings = dask_settings or from_mapping(DaskSettings, DEFAULTS["dask"])
    check_speed_unit(speed_unit)
    with dask_client(settings, threads) as client:
        dist, crs_wkt, transform = distribution_on_client(
            client, hourly_location, speed_unit, parse_memory(settings, "task_memory"), progress_every_s
        )
    dist, transform = north_up(dist, transform)
    write_distribution(out_path, dist, crs_wkt, transform, speed_unit)
    log.info("wind distribution written to %s", out_path)
