"""The runner's log lines, on stderr (the dev stack's worker log; CloudWatch on AWS).

Not the `logging` module: importing it (with `traceback`) is a tenth of the runner's start,
and the runner writes a handful of lines a phase."""
from __future__ import annotations

import os
import sys
import time

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_threshold = LEVELS.get(os.environ.get("RUNNER_LOG_LEVEL", "INFO").upper(), 20)


def _write(level: str, message: str, args: tuple, exc_info: bool) -> None:
    if LEVELS[level] < _threshold:
        return
    line = message % args if args else message
    if exc_info and sys.exc_info()[0] is not None:
        import traceback   # lazy: only when a line carries a traceback
        line += "\n" + traceback.format_exc().rstrip()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    sys.stderr.write(f"{stamp} runner[{os.getpid()}] {level} {line}\n")
    sys.stderr.flush()


def debug(message: str, *args) -> None:
    _write("DEBUG", message, args, False)


def warning(message: str, *args, exc_info: bool = False) -> None:
    _write("WARNING", message, args, exc_info)


def error(message: str, *args, exc_info: bool = False) -> None:
    _write("ERROR", message, args, exc_info)


def exception(message: str, *args) -> None:
    _write("ERROR", message, args, True)
