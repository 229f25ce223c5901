"""The ``windrisk`` command: dispatches to the stage that owns each subcommand."""

from __future__ import annotations

import importlib
import os
import sys

from windrisk import __version__

# subcommand -> (module, help); each module exposes ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "store": ("windrisk.store_cli", "inspect the Icechunk store: status, verify, gc"),
    "regions": (
        "windrisk.aoi",
        "region ids of a box, state or county (--bbox/--state/--county), for --config regions=...",
    ),
    "inputs": ("windrisk.inputs_cli", "each input: product, where the config points, there or not, how to prepare it"),
    "plan": ("windrisk.plan", "per step, how many regions are done and how many will run"),
    "serve": ("windrisk.serve", "serve the map page and PMTiles on 127.0.0.1 with range requests"),
    "compare": ("windrisk.compare", "how far a finished run is from the other method (published v1.1.0 / windrisk)"),
}


def usage() -> str:
    lines = ["usage: windrisk [-h] [--version] <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a mistake, not a request for help: usage on stderr and exit 2, as argparse does
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in {"-h", "--help"}:
        print(usage())
        return 0
    if argv[0] == "--version":
        print(f"windrisk {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"windrisk: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    try:
        code = int(module.main(rest) or 0)
        sys.stdout.flush()  # a closed pipe raises here, inside the try, not at interpreter exit
    except BrokenPipeError:
        # The reader went away (`windrisk store status --json | head -1`): not an error worth a
        # traceback. Point stdout at devnull so the flush at exit cannot raise again, then exit 1
        # as Python does on EPIPE (the "Note on SIGPIPE" in the signal module's docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
