"""The ``calipers`` command line.

Each capability with commands has a module in this package exposing
``register(subparsers)``, which adds its subcommand(s) with ``set_defaults(handler=...)``;
a handler takes the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..exceptions import CalipersError

# Modules adding subcommands, in the order they appear in --help.
COMMAND_MODULES: list[str] = [
    "calipers.cli.judge",
    "calipers.cli.report",
    "calipers.cli.tiny",
    "calipers.cli.route",
    "calipers.cli.prompts",
]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="calipers",
        description="Statistically sound, high-throughput evaluation of ML and LLM models.",
    )
    parser.add_argument("--version", action="version", version=f"calipers {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except (CalipersError, ValueError, OSError, ImportError) as exc:
        # ImportError: a missing optional extra; its message names the extra to install.
        print(f"calipers: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("calipers: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line, and how to see the traceback
        if os.environ.get("CALIPERS_DEBUG"):
            raise
        print(
            f"calipers: internal error: {type(exc).__name__}: {exc} (this is a bug in calipers; "
            "rerun with CALIPERS_DEBUG=1 for the traceback and report it)",
            file=sys.stderr,
        )
        return 2
