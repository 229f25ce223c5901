#!/usr/bin/env python3
"""cluster-generic cancel command of profiles/coiled; the logic is windrisk.coiled_batch.cancel_main."""

import sys
from pathlib import Path

# Runs from a source checkout too (the package is imported from ../../src when not installed).
sys.path.append(str(Path(__file__).resolve().parents[2] / "src"))

from windrisk.coiled_batch import cancel_main

if __name__ == "__main__":
    sys.exit(cancel_main(sys.argv[1:]))
