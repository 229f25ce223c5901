#!/usr/bin/env python3
"""cluster-generic submit command of profiles/coiled; the logic is windrisk.coiled_batch.submit_main."""

import sys
from pathlib import Path

# Runs from a source checkout too (the package is imported from ../../src when not installed).
sys.path.append(str(Path(__file__).resolve().parents[2] / "src"))

from windrisk.coiled_batch import submit_main

if __name__ == "__main__":
    sys.exit(submit_main(sys.argv[1:]))
