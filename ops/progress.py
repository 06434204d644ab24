"""Import progress: a live bar (rows, rate, ETA) on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar


class Tally(Protocol):
    @property
    def records(self) -> int: ...

    @property
    def rejected(self) -> int: ...

    @property
    def conflicts(self) -> int: ...


class Progress(Protocol):
    def start(self, total: int, done: int) -> None: ...

    def advance(self, done: int, counts: Tally) -> None: ...

    def stop(self) -> None: ...


class Silent:
    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, done: int, counts: Tally) -> None:
        pass

    def stop(self) -> None:
        pass


class Bar:
    """rich's progress bar on stderr; it redraws itself a few times a second."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._bar = RichBar(
            TextColumn("import"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]:>7.0f} rows/s"),
            TextColumn("rejected {task.fields[rejected]}, conflicts {task.fields[conflicts]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=stream or sys.stderr),
        )
        self._task: TaskID | None = None
        self._started = time.monotonic()
        self._first = 0

    def start(self, total: int, done: int) -> None:
        self._started, self._first = time.monotonic(), done
        self._bar.start()
        self._task = self._bar.add_task(
            "import", total=total, completed=done, rate=0, rejected=0, conflicts=0
        )

    def advance(self, done: int, counts: Tally) -> None:
        if self._task is not None:
            elapsed = max(time.monotonic() - self._started, 1e-6)
            self._bar.update(
                self._task,
                completed=done,
                rate=(done - self._first) / elapsed,
                rejected=counts.rejected,
                conflicts=counts.conflicts,
            )

    def stop(self) -> None:
        self._bar.stop()


class Lines:
    """One plain line every `interval` seconds, for logs and CI (no terminal control characters)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self._stream = stream or sys.stderr
        self._interval = interval
        self._total = 0
        self._first = 0
        self._started = self._last = time.monotonic()

    def start(self, total: int, done: int) -> None:
        self._total, self._first = total, done
        self._started = self._last = time.monotonic()
        self._print(f"import: {total:,} rows" + (f", resuming after row {done:,}" if done else ""))

    def advance(self, done: int, counts: Tally) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        rate = (done - self._first) / max(now - self._started, 1e-6)
        left = (self._total - done) / rate if rate > 0 else float("inf")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left != float("inf") else "?"
        share = 100 * done / self._total if self._total else 100.0
        self._print(
            f"import: {done:,}/{self._total:,} rows ({share:.1f}%), {rate:,.0f} rows/s, "
            f"rejected {counts.rejected:,}, conflicts {counts.conflicts:,}, ETA {eta}"
        )

    def stop(self) -> None:
        pass

    def _print(self, text: str) -> None:
        print(text, file=self._stream, flush=True)


def for_stream(stream: TextIO, interval: float) -> Progress:
    """The bar on a terminal, plain lines otherwise."""
    return Bar(stream) if stream.isatty() else Lines(stream, interval)
