"""Per-region wind-informed BP: the fast path against the published cv2.filter2D formulation.

One climate run (spreading in 8 directions x 3 iterations → composite → keep → blur) on a
synthetic buffered window, default full size: a 6,000 x 4,500 region plus 490 px each side
(6,980 x 5,480 px). A region job does this twice (2011, 2047); ``--runs 2`` times both.
Each implementation runs in its own subprocess so its peak RSS (inputs included) is its own.
The reference is the published code's formulation — ``cv2.filter2D`` on float32, all 8
direction results held at once — with this project's border (zero padding) and NaN-aware blur,
so the two compute the same thing and their difference is meaningful.

    .venv/bin/python benchmarks/bench_wind.py [--size ROWS COLS] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FULL = (6000 + 2 * 490, 4500 + 2 * 490)
QUICK = (1200, 1000)
PIXEL_SIZE_M = (34.19, 27.3)  # the published grid near 38 N
BP_BLOCK = 8  # ~270 m BP pixels resampled to ~34 m
WIND_BLOCK = 120  # ~4 km wind pixels


def synthetic_inputs(shape: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """BP (float32: blocky, zeros, a NaN 'ocean' strip) and an 8-band distribution (float32)."""
    rng = np.random.default_rng(seed)
    coarse = (shape[0] // BP_BLOCK + 1, shape[1] // BP_BLOCK + 1)
    bp = 10.0 ** rng.uniform(-4, -1.5, coarse) * (rng.random(coarse) > 0.3)
    bp = np.repeat(np.repeat(bp.astype(np.float32), BP_BLOCK, 0), BP_BLOCK, 1)[: shape[0], : shape[1]]
    bp[:, : shape[1] // 10] = np.nan
    wc = (shape[0] // WIND_BLOCK + 1, shape[1] // WIND_BLOCK + 1)
    dist = np.empty((8, *shape), dtype=np.float32)
    for d in range(8):
        band = (rng.random(wc) * (rng.random(wc) > 0.4)).astype(np.float32)
        dist[d] = np.repeat(np.repeat(band, WIND_BLOCK, 0), WIND_BLOCK, 1)[: shape[0], : shape[1]]
    return np.ascontiguousarray(bp), dist


def fast(bp: np.ndarray, dist: np.ndarray) -> np.ndarray:
    from windrisk.wind import wind_informed_bp

    return wind_informed_bp(bp, dist, PIXEL_SIZE_M, True)


def reference(bp: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """The published formulation with cv2 (float32), all 8 directions held, zero border."""
    from windrisk.wind import blur_ksize, direction_kernels

    spreads = reference_spread(bp, direction_kernels(PIXEL_SIZE_M, True))
    return reference_blur(bp, reference_composite(spreads, dist), blur_ksize(PIXEL_SIZE_M[0]))


def reference_spread(bp: np.ndarray, kernels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every direction's 3 iterations of cv2.filter2D (float32, zero border), all 8 held at once."""
    import cv2

    from windrisk.wind import DIRECTIONS

    nan = np.isnan(bp)
    spreads = {}
    for direction in DIRECTIONS:
        k = kernels[direction].astype(np.float32)
        arr = np.where(bp > 0, bp, 0).astype(np.float32)
        for _ in range(3):
            valid = (arr > 0).astype(np.float32)
            cm = cv2.filter2D(valid, -1, k, borderType=cv2.BORDER_CONSTANT)
            ca = cv2.filter2D(arr, -1, k, borderType=cv2.BORDER_CONSTANT)
            cm[cm < 1e-11] = 0
            ca[ca < 1e-11] = 0
            arr = np.where(cm > 0, ca / np.where(cm > 0, cm, 1), 0).astype(np.float32)
        arr[nan] = np.nan
        spreads[direction] = arr
    return spreads


def reference_composite(spreads: dict[str, np.ndarray], dist: np.ndarray) -> np.ndarray:
    """Spreads weighted by the distribution renormalised per pixel (NaN without fire weather)."""
    from windrisk.wind import DIRECTIONS

    total = dist.sum(axis=0)
    ok = total > 0
    return sum(spreads[d] * np.where(ok, dist[i] / np.where(ok, total, 1), np.nan) for i, d in enumerate(DIRECTIONS))


def reference_blur(bp: np.ndarray, comp: np.ndarray, ksize: int) -> np.ndarray:
    """Keep the original BP where it is not 0, then the NaN-aware cv2.GaussianBlur (zero border)."""
    import cv2

    kept = np.where(bp == 0, comp, bp).astype(np.float32)
    valid = ~np.isnan(kept)
    blur = lambda a: cv2.GaussianBlur(a, (ksize, ksize), 0, borderType=cv2.BORDER_CONSTANT)
    num, den = blur(np.where(valid, kept, 0).astype(np.float32)), blur(valid.astype(np.float32))
    return np.where(valid, num / np.where(valid, den, 1), np.nan).astype(np.float32)


def child(which: str, shape: tuple[int, int], runs: int, out: str) -> None:
    """Run one implementation; print JSON timings and peak RSS; save the last result."""
    fn = fast if which == "fast" else reference
    small_bp, small_dist = synthetic_inputs((200, 200), seed=1)
    t0 = time.perf_counter()
    fn(small_bp, small_dist)  # numba compile / cache load, OpenCV init: not timed below
    warmup = time.perf_counter() - t0
    bp, dist = synthetic_inputs(shape)
    t0, c0 = time.perf_counter(), time.process_time()
    for run in range(runs):
        result = fn(bp if run == 0 else bp * np.float32(1.2), dist)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.save(out, result)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "warmup_s": warmup, "peak_rss_gib": peak_gib}))


def measure(which: str, shape: tuple[int, int], runs: int, out: Path) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--size",
        str(shape[0]),
        str(shape[1]),
        "--runs",
        str(runs),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", nargs=2, type=int, metavar=("ROWS", "COLS"), default=None)
    parser.add_argument("--quick", action="store_true", help=f"small window {QUICK}")
    parser.add_argument("--runs", type=int, default=1, help="climate runs per region (1 or 2)")
    parser.add_argument("--child", choices=["fast", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shape = tuple(args.size) if args.size else (QUICK if args.quick else FULL)
    if args.child:
        child(args.child, shape, args.runs, args.out)
        return 0
    mpx = shape[0] * shape[1] * args.runs / 1e6
    threads = os.cpu_count()
    print(
        f"window {shape[0]} x {shape[1]} px, {args.runs} climate run(s): {mpx:.1f} Mpx; {threads} cores, "
        "both sides use all of them (numba / OpenCV threads)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        res = {w: measure(w, shape, args.runs, Path(tmp) / f"{w}.npy") for w in ("reference", "fast")}
        a, b = np.load(Path(tmp) / "fast.npy"), np.load(Path(tmp) / "reference.npy")
    same_nan = bool(np.array_equal(np.isnan(a), np.isnan(b)))
    diff = float(np.nanmax(np.abs(a - b)))
    for name, r in res.items():
        print(
            f"{name:>9}: {r['seconds']:8.2f} s wall  {mpx / r['seconds']:7.2f} Mpx/s  "
            f"{r['cpu_s']:8.2f} s CPU (all threads)  peak RSS {r['peak_rss_gib']:.2f} GiB  "
            f"(warm-up {r['warmup_s']:.1f} s, not counted)"
        )
    ratio = {k: res["reference"][k] / res["fast"][k] for k in ("seconds", "cpu_s")}
    print(
        f"speed-up fast / reference: {ratio['seconds']:.2f}x wall, {ratio['cpu_s']:.2f}x CPU time "
        f"(CPU time is the fairer figure on a shared machine)"
    )
    print(f"max |fast - reference| = {diff:.3g}; NaN masks equal: {same_nan}")
    ok = diff <= 1e-6 and same_nan
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
