"""The ``windrisk`` command: dispatches to the stage that owns each subcommand."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module, help); each module exposes ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "store": ("windrisk.store_cli", "inspect the Icechunk store: status, verify, gc"),
    "plan": ("windrisk.plan", "per step, how many regions are done and how many will run"),
    "serve": ("windrisk.serve", "serve the map page and PMTiles on 127.0.0.1 with range requests"),
    "compare": ("windrisk.compare", "how far a finished run is from the other method (published v1.1.0 / windrisk)"),
}


def usage() -> str:
    lines = ["usage: windrisk <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"windrisk: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
