"""Ray's own output goes to the run's log file; paragrid's lines stay on the console.

Why at the file-descriptor level: after a node loss the driver's Ray core (C++) writes raylet
state dumps and core-worker warnings straight to file descriptor 2, past Python's sys.stderr and
logging, so no logger level stops them (43 of 120 console lines of a two-node run). So, unless
verbose, `ray_output_to(log)` points fd 2 at the log file for the grid's duration: Ray's C++
lines, its Python loggers (their handler writes to whatever sys.stderr is, i.e. fd 2), Python
warnings and the processes Ray starts (they inherit fd 2) all land there. Paragrid's lines go
to stdout, or to `Console.stderr`, a stream on a duplicate of the original fd 2, so they still
reach the terminal. fd 2 is restored on the way out, also on an exception or Ctrl-C.

`configure_ray_logging` holds the Python-side settings (documented Ray and Tune settings only:
environment variables of Ray Tune / Ray AIR, usage stats, log deduplication; the levels of the
"ray" loggers; `ray.init`'s logging arguments).
"""
from __future__ import annotations

import io
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

RAY_LOGGERS = ("ray.tune", "ray.train", "ray.air", "ray.data")


@dataclass
class Console:
    """Where paragrid writes while the grid runs (valid inside `ray_output_to`'s block only)."""
    stderr: TextIO            # the real terminal's stderr (a duplicate of the original fd 2)
    log_path: Path | None     # where Ray's output goes; None: it stays on the console (verbose)
    captured: bool            # fd 2 points at log_path now, and Python's sys.stdout too
    stdout: TextIO | None = None  # the real stdout (sys.stdout as it was before the block)

    def say(self, line: str, err: bool = False) -> None:
        """One of paragrid's lines: the real stdout (as everywhere in paragrid), or the real stderr."""
        stream = self.stderr if err else (self.stdout or sys.stdout)
        stream.write(line + "\n")
        stream.flush()


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


@contextmanager
def _ctrl_c_deferred():
    """A Ctrl-C while fd 2 is being swapped waits until the swap is done (a half-done swap would
    outlive the run); it is then handled as it would have been. Python runs signal handlers in
    the main thread only, so off it there is nothing to defer."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if got and previous is not signal.SIG_IGN:
            if callable(previous):
                previous(signal.SIGINT, None)  # Python's default raises KeyboardInterrupt
            else:
                raise KeyboardInterrupt


@contextmanager
def ray_output_to(log_path: str | os.PathLike | None, verbose: bool = False,
                  title: str = "") -> Iterator[Console]:
    """For the duration of the block, file descriptor 2 writes to `log_path` (appended; its
    folder is made), unless `verbose`; yields a `Console` whose `stderr` is the real terminal.

    `log_path` is a local file; None (a run on remote storage) means
    <tempdir>/paragrid/ray-console-<pid>.log (`Console.log_path` says which). Where fd 2 cannot
    be duplicated (no stderr at all), nothing is redirected."""
    if verbose:
        yield Console(stderr=sys.stderr, log_path=None, captured=False)
        return
    path = Path(log_path) if log_path is not None else \
        Path(tempfile.gettempdir()) / "paragrid" / f"ray-console-{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    _flush_std()
    with _ctrl_c_deferred():
        try:
            saved = os.dup(2)  # not inherited by children (PEP 446): only paragrid writes to it
        except OSError:
            saved = None
        if saved is not None:
            try:
                log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError:
                os.close(saved)
                raise
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            os.write(log_fd, f"---- {stamp} {title or 'grid'}: Ray's output (stderr) from here ----\n".encode())
            os.dup2(log_fd, 2)
            os.close(log_fd)
    if saved is None:
        yield Console(stderr=sys.stderr, log_path=None, captured=False)
        return
    terminal = io.TextIOWrapper(io.FileIO(saved, "w", closefd=False), line_buffering=True,
                                encoding=getattr(sys.stderr, "encoding", None) or "utf-8", errors="replace")
    # Ray's driver also prints from Python to sys.stdout: the messages it gets from the cluster,
    # e.g. a dead node's raylet state dump, tagged "(raylet)". While the grid runs, sys.stdout
    # is the log file too; paragrid's own lines go to the real stdout (Console.stdout).
    real_stdout = sys.stdout
    log_text = open(path, "a", buffering=1, encoding="utf-8", errors="replace")
    sys.stdout = log_text
    try:
        yield Console(stderr=terminal, log_path=path, captured=True, stdout=real_stdout)
    finally:
        sys.stdout = real_stdout
        log_text.close()
        _flush_std()
        with _ctrl_c_deferred():
            try:
                terminal.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)


def configure_ray_logging(verbose: bool, captured: bool = False) -> None:
    """Ray's Python-side output before `ray.init`: Tune's old reporter (silent at verbose=0),
    Ctrl-C handled by paragrid, only the callbacks paragrid passes, no usage-stats prompt,
    repeated worker lines deduplicated. Loggers: with Ray's stderr `captured` in the log file,
    warnings are kept (they land in the file); on a console, only errors (and not even those
    from Tune) unless verbose. Call it before Ray starts; `ray_init_kwargs` goes with it."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C stops at once; we resume
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # only our JSON logger
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    keep = verbose or captured
    for name in RAY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if keep else logging.CRITICAL)
    logging.getLogger("ray").setLevel(logging.WARNING if keep else logging.ERROR)
    if not keep:
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")


def ray_init_kwargs(verbose: bool, captured: bool = False) -> dict:
    """`ray.init` arguments that go with `configure_ray_logging`: worker output is forwarded to
    the driver only when verbose (it stays in Ray's session logs otherwise); the driver's "ray"
    logger keeps warnings when they reach the console (verbose) or the log file (captured)."""
    return dict(include_dashboard=False, log_to_driver=verbose, configure_logging=True,
                logging_level=logging.WARNING if verbose or captured else logging.ERROR)
