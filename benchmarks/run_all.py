"""Run every benchmark in this folder in turn and print its figures (`make bench`).

Each `bench_*.py` measures its own baseline in the same run and prints absolute numbers and
ratios; pass `--quick` to run each at its small size.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    failures = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} {'(quick)' if quick else ''} ===", flush=True)
        start = time.perf_counter()
        args = [sys.executable, str(script)] + (["--quick"] if quick else [])
        code = subprocess.call(args)
        print(f"--- {script.name}: exit {code}, {time.perf_counter() - start:.1f} s", flush=True)
        if code:
            failures.append(script.name)
    if failures:
        print(f"\nfailed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
