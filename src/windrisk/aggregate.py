"""Step 3: every region's building file → one CONUS GeoParquet 1.1, streamed in bounded memory.

Region files are already Hilbert-sorted over the fixed ``buildings.CONUS_EXTENT``; ordering the
files by the Hilbert key of their first row makes the concatenation nearly globally sorted with
no global sort (regions are disjoint, so their key ranges barely interleave). The ``geo``
metadata (union bbox, geometry types) is merged from the footers before the writer opens, and
batches are buffered to ``row_group_size`` rows because each ``write_table`` starts a row group.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from queue import Queue
from threading import Thread
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from windrisk.buildings import (
    DEFECTS,
    DROP_REASONS,
    SCHEMA,
    file_schema,
    float64_values,
    hilbert_key,
    region_account,
    writer_options,
)
from windrisk.io import atomic_path


def file_geo(path: str | Path) -> dict:
    """The ``geo`` metadata of a building file (footer only); ValueError if it is not one."""
    schema = pq.read_schema(path)
    if not schema.remove_metadata().equals(SCHEMA):
        raise ValueError(
            f"{path} is not a building file of this version (schema differs from buildings.SCHEMA); "
            "delete it and re-run its buildings_region job"
        )
    try:
        return json.loads(schema.metadata[b"geo"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise ValueError(
            f"{path} has no GeoParquet 'geo' metadata; delete it and re-run its buildings_region job"
        ) from None


def union_bbox(geos: Sequence[dict]) -> tuple[float, float, float, float] | None:
    """Union of the files' bboxes (files without one, i.e. empty files, are skipped)."""
    boxes = [g["columns"]["geometry"]["bbox"] for g in geos if "bbox" in g["columns"]["geometry"]]
    if not boxes:
        return None
    arr = np.asarray(boxes, dtype=np.float64)
    return (arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max())


def first_key(path: str | Path) -> int:
    """Hilbert key of a file's first row (files without rows sort last)."""
    pf = pq.ParquetFile(path)
    if pf.metadata.num_rows == 0:
        return np.iinfo(np.int64).max
    # read_row_group, not iter_batches: the latter's read-ahead scans far more than one row.
    first = pf.read_row_group(0, columns=["geometry"]).column(0).chunk(0).slice(0, 1)
    x, y = float64_values(first.field("x")), float64_values(first.field("y"))
    return int(hilbert_key(x, y)[0])


def spatial_order(paths: Sequence[str | Path]) -> list[str]:
    """Region files in the order of their first row's Hilbert key."""
    return [str(p) for p in sorted(paths, key=lambda p: (first_key(p), str(p)))]


def file_tables(paths: Sequence[str]) -> Iterator[pa.Table]:
    """Each file's row groups in order, decoded with threads (one row group in memory at a time)."""
    for path in paths:
        pf = pq.ParquetFile(path)
        for i in range(pf.num_row_groups):
            yield pf.read_row_group(i, use_threads=True)


def prefetched(tables: Iterator[pa.Table], depth: int = 2) -> Iterator[pa.Table]:
    """Read ahead in a thread so decoding overlaps encoding (pyarrow releases the GIL)."""
    done = object()
    queue: Queue = Queue(maxsize=depth)

    def fill() -> None:
        try:
            for table in tables:
                queue.put(table)
            queue.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            queue.put(exc)

    Thread(target=fill, daemon=True).start()
    while (item := queue.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def row_groups(paths: Sequence[str], size: int) -> Iterator[pa.Table]:
    """Stream the files' rows as tables of exactly ``size`` rows (the last may be shorter)."""
    buffer: list[pa.Table] = []
    buffered = 0
    for table in prefetched(file_tables(paths)):
        buffer.append(table)
        buffered += table.num_rows
        while buffered >= size:
            merged = pa.concat_tables(buffer)
            yield merged.slice(0, size)
            buffer, buffered = [merged.slice(size)], merged.num_rows - size
    if buffered:
        yield pa.concat_tables(buffer)


def aggregate(paths: Sequence[str | Path], target: str | Path, row_group_size: int = 100_000) -> int:
    """Concatenate building files into one GeoParquet 1.1 at ``target``; return the row count."""
    if not paths:
        raise ValueError("aggregate: no region building files given; run at least one region")
    geos = [file_geo(p) for p in paths]
    schema = file_schema(union_bbox(geos))
    rows = 0
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, **writer_options(row_group_size)) as writer:
        for table in row_groups(spatial_order(paths), row_group_size):
            writer.write_table(table.replace_schema_metadata(schema.metadata), row_group_size=row_group_size)
            rows += table.num_rows
        if rows == 0:
            writer.write_table(SCHEMA.empty_table().replace_schema_metadata(schema.metadata))
    return rows


def accounting(paths: Sequence[str | Path], census: Mapping[str, Any]) -> dict[str, Any]:
    """Every row of the buildings input accounted for, from the region files' accounts and the input
    check's census: written, dropped by reason, outside the grid, without any location, or in
    regions this run does not cover. ValueError when the numbers do not add up (rows were lost)."""
    written, repaired = 0, 0
    dropped = dict.fromkeys(DROP_REASONS, 0)
    covered = set()
    for path in paths:
        account = region_account(pq.read_schema(path))
        if account is None:
            raise ValueError(f"{path} carries no account of its rows; delete it and re-run its buildings_region job")
        rid = account["region_id"]
        expected = int(census["regions"].get(rid, {}).get("rows", 0))
        if account["rows_owned"] != expected:
            raise ValueError(
                f"{path}: region {rid} owns {account['rows_owned']} rows, the input check counted "
                f"{expected}; delete it and re-run its buildings_region job"
            )
        covered.add(rid)
        written += account["written"]
        repaired += account["repaired_invalid"]
        for reason, n in account["dropped"].items():
            dropped[reason] += n
    not_covered = {rid: v["rows"] for rid, v in census["regions"].items() if rid not in covered}
    no_location = {reason: int(census["no_location"].get(reason, 0)) for reason in DEFECTS}
    summary = {
        "input_rows": int(census["rows"]),
        "written": written,
        "dropped_in_regions": dropped,
        "dropped_without_location": no_location,
        "outside_grid": int(census["outside_grid"]),
        "in_regions_not_in_this_run": sum(not_covered.values()),
        "in_regions_without_data": sum(not_covered.get(rid, 0) for rid in census["regions_without_data"]),
        "repaired_invalid_kept": repaired,
    }
    accounted = (
        written
        + sum(dropped.values())
        + sum(no_location.values())
        + summary["outside_grid"]
        + summary["in_regions_not_in_this_run"]
    )
    if accounted != summary["input_rows"]:
        raise ValueError(
            f"buildings do not add up: {accounted} rows accounted for, the input holds "
            f"{summary['input_rows']} ({summary}); re-run the buildings_region jobs"
        )
    return summary
