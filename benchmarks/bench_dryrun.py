"""Wall and CPU time of `snakemake -n --quiet` at CONUS scale and beyond (no input data needed).

Cases: the CONUS config (405 data regions), all 799 chunks, and a synthetic grid of ~20,000
regions (the CONUS grid cut into 1,000 x 1,000 px chunks). Targets: CONUS <= 5 s, 20k <= 30 s.
Baseline in the same run: `snakemake --version` (interpreter + Snakemake start-up), so the
ratios stay comparable on a loaded machine. `--quick` skips the 20k case.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import snakemake_cmd

from windrisk.plan import job_stats

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TARGET_S = {"conus": 5.0, "all_799": 5.0, "synthetic_20k": 30.0}


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall s, child CPU s, output) of one command; raises on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout + proc.stderr


def configs(tmp: Path) -> dict[str, tuple[Path, list[str]]]:
    """Case name -> (config file, extra args). The parse-time S3 store check is off (offline)."""
    conus = yaml.safe_load((REPO / "config" / "conus.yaml").read_text())
    conus["store"]["reconcile_sentinels"] = False
    conus_path = tmp / "conus.yaml"
    conus_path.write_text(yaml.safe_dump(conus))
    synthetic = {**conus, "grid": {**conus["grid"], "chunks": [1000, 1000], "data_regions": "all"}}
    synthetic_path = tmp / "synthetic_20k.yaml"
    synthetic_path.write_text(yaml.safe_dump(synthetic))
    return {
        "conus": (conus_path, []),
        "all_799": (conus_path, ["--config", "grid={data_regions: all}"]),
        "synthetic_20k": (synthetic_path, []),
    }


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    reps = 1 if quick else 3
    base = [timed([*SNAKEMAKE, "--version"]) for _ in range(reps)]
    base_wall, base_cpu = statistics.median(b[0] for b in base), statistics.median(b[1] for b in base)
    print(f"baseline `snakemake --version`: wall {base_wall:.2f} s, cpu {base_cpu:.2f} s")
    print(f"{'case':<15}{'regions':>9}{'jobs':>8}{'wall s':>9}{'cpu s':>8}{'x base':>8}{'target':>8}")
    ok = True
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name, (configfile, extra) in configs(tmp).items():
            if quick and name == "synthetic_20k":
                continue
            runs = [
                timed(snakemake_cmd(tmp / f"work_{name}", "-n", "--quiet", "rules", *extra, configfile=configfile))
                for _ in range(1 if name == "synthetic_20k" else reps)
            ]
            wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            stats = job_stats(runs[0][2])
            met = wall <= TARGET_S[name]
            ok &= met
            print(
                f"{name:<15}{stats.get('wind_region', 0):>9}{sum(stats.values()):>8}{wall:>9.1f}"
                f"{cpu:>8.1f}{wall / base_wall:>8.1f}{TARGET_S[name]:>7.0f}s {'ok' if met else 'MISSED'}"
            )
    print("(wall is noisy on a shared machine; cpu s is the closer measure of the work itself)")
    if not ok:
        print("some targets MISSED (reported, not a failure of the benchmark itself)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
