"""Where a long command's lines go, on a steady beat: a line sink, or a stream with one live
status line on a terminal. `paragrid run` and `paragrid tune` both print through it.

Why one place: a status every `beat_s` (30-60 s) and at each change reads as a clock; a line per
event buries the console. With a terminal the status is one live line updated in place (tqdm)
under the permanent lines; piped or logged, plain lines only, so a log file holds no control
characters. The clock is injectable so that tests can replay a run's events.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO

from tqdm import tqdm

LIVE_REFRESH_S = 1.0  # the live line's elapsed time ticks at most this often


class StatusLine:
    """Plain lines to `out` (a sink: forces plain lines) or to `stream` (default stdout), with a
    live line when the stream is a terminal (or `live=True`); `beat_s` paces the status."""

    def __init__(self, out: Callable[[str], None] | None = None, stream: TextIO | None = None,
                 live: bool | None = None, beat_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.out, self.stream, self.beat_s, self.clock = out, stream, beat_s, clock
        self._live_wanted = live
        self._bar = None            # the live line (tqdm), made on first use
        self.last_status: float | None = None
        self._last_live = 0.0
        self.closed = False

    def __getstate__(self) -> dict:  # pickled with a Tune callback: the sinks stay on the driver
        return {**self.__dict__, "_bar": None, "stream": None, "out": None}

    def due(self) -> bool:
        """True when `beat_s` has passed since the last status (or none was shown yet)."""
        return self.last_status is None or self.clock() - self.last_status >= self.beat_s

    def live_due(self) -> bool:
        """True when the live line's clock should tick."""
        return self.is_live() and self.clock() - self._last_live >= LIVE_REFRESH_S

    def status(self, line: str, permanent: bool = True) -> None:
        """A status line: permanent (a stage change, the end, a plain console) or only in the live
        line, which `live` then updates."""
        self.last_status = self.clock()
        if permanent or not self.is_live():
            self.emit(line)

    def emit(self, line: str) -> None:
        """One permanent line (kept above the live line when there is one)."""
        if self.out is not None:
            self.out(line)
        elif self._bar is not None:
            self._bar.write(line, file=self._stream())
        else:
            stream = self._stream()
            stream.write(line + "\n")
            stream.flush()

    def live(self, desc: str, postfix: str, n: int, total: int) -> None:
        """Update the live line in place (nothing when the output is not a terminal)."""
        if not self.is_live():
            return
        self._last_live = self.clock()
        if self._bar is None:  # leave=False: the permanent lines tell the story once it ends
            self._bar = tqdm(total=total, initial=n, file=self._stream(), dynamic_ncols=True, leave=False,
                             desc=desc, postfix=postfix,
                             bar_format="{desc} {percentage:3.0f}%|{bar:12}| {n_fmt}/{total_fmt}{postfix}")
            return
        self._bar.n = n
        self._bar.set_description_str(desc, refresh=False)
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.refresh()

    def is_live(self) -> bool:
        if self.out is not None or self.closed:
            return False
        if self._live_wanted is not None:
            return self._live_wanted
        stream = self._stream()
        try:  # a terminal that reports no width (a bare pty) would show an empty live line
            return stream.isatty() and os.get_terminal_size(stream.fileno()).columns > 0
        except (AttributeError, OSError, ValueError):
            return False

    def close(self) -> None:
        """End the live line; safe to call twice."""
        self.closed = True
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _stream(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout
