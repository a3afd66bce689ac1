"""Command-line boundary of every stage: one readable error line, non-zero exit.

A Python traceback is shown only with ``--debug`` or ``NEURALODE_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .config import ConfigError
from .solvers.base import SolverError

# Errors that describe a problem with the user's input, data, disk or dynamics.
USER_ERRORS = (ConfigError, SolverError, OSError, ValueError, FloatingPointError)


def run(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser,
        argv: Sequence[str] | None = None) -> None:
    """Parse arguments and run ``main``; exit 1 with ``error: ...`` on a user error."""
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors (or NEURALODE_DEBUG=1)")
    parser.add_argument("--params", default="params.yaml",
                        help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("NEURALODE_DEBUG", "") not in ("", "0")
    try:
        main(args)
    except USER_ERRORS as err:
        if debug:
            raise
        _release_frames(err)
        print(f"error: {_one_line(err)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def summary(stage: str, metrics: Mapping[str, Any]) -> str:
    """``stage: key=value, ...`` over the float metrics, for the stage's last line."""
    return f"{stage}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                                    if isinstance(v, float))


def _release_frames(err: BaseException) -> None:
    """Free the failed frames now, so what they hold (an open progress bar redraws
    itself when collected) is finalised before the error line, which stays last."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        e.__traceback__ = None
        e = e.__cause__ or e.__context__
    gc.collect()
    sys.stderr.flush()


def _one_line(err: BaseException) -> str:
    msg = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in msg:
        msg = f"{msg}: {err.filename}"
    return " ".join(msg.split())
