"""The one error base class of the framework and its exit codes.

Every error a user can cause (a bad recipe value, a damaged checkpoint, a malformed manifest or input
file) derives from `UniMuMoError`. It carries the exit code its command ends with, so each command has
one handler (`unimumo.cli.common.run_command`) that prints one line naming the cause and returns that code.
Library code raises these; only `cli/` turns them into exit codes.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected failure (a bug): the traceback is printed
EXIT_USAGE = 2  # bad input: a recipe value, a file, a manifest, a checkpoint


class UniMuMoError(Exception):
    """An error with a documented cause; `exit_code` is what the command exits with."""

    exit_code: int = EXIT_USAGE
    kind: str = "error"  # the label the command prints before the message, e.g. "recipe error"
