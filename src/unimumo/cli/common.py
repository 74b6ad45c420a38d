"""What every command shares: the `--log-level` flag and the one error handler.

`run_command(prog, body)` runs a command's body and turns a `UniMuMoError` (or a missing file) into one
line on stderr, `prog: <kind>: <message>`, and the error's exit code; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from unimumo.errors import EXIT_USAGE, UniMuMoError
from unimumo.utils.log import LEVELS, setup_logging


def add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        default="info",
        help="messages shown (rank 0; other ranks show warnings and errors only); default info",
    )


def run_command(prog: str, body: Callable[[], int], log_level: str = "info") -> int:
    """Run `body()` with logging set up; one line and the documented exit code for a user's error."""
    setup_logging(log_level)
    try:
        return body()
    except UniMuMoError as error:
        print(f"{prog}: {error.kind}: {error}", file=sys.stderr)
        return error.exit_code
    except FileNotFoundError as error:
        print(f"{prog}: missing input: {error}", file=sys.stderr)
        return EXIT_USAGE
