"""Progress of a long run (the import's rows, the bench's phases): a live bar with its ETA on a terminal,
a plain line every few seconds otherwise."""

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


def _rich_bar(
    label: str, *fields: TextColumn, stream: TextIO | None, refresh_per_second: float = 10
) -> RichBar:
    """rich's bar: the label, the bar, done/total and %, the given fields, elapsed and the ETA."""
    return RichBar(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        *fields,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=stream or sys.stderr),
        refresh_per_second=refresh_per_second,
    )


def _eta(done: int, first: int, total: int, started: float, now: float) -> tuple[float, str]:
    """(units a second since `first`, the time left as H:MM:SS or "?")."""
    rate = (done - first) / max(now - started, 1e-6)
    left = (total - done) / rate if rate > 0 else float("inf")
    return rate, time.strftime("%H:%M:%S", time.gmtime(left)) if left != float("inf") else "?"


class Bar:
    """rich's progress bar on stderr; it redraws itself a few times a second."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._bar = _rich_bar(
            "import",
            TextColumn("{task.fields[rate]:>7.0f} rows/s"),
            TextColumn("rejected {task.fields[rejected]}, conflicts {task.fields[conflicts]}"),
            stream=stream,
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
        rate, eta = _eta(done, self._first, self._total, self._started, now)
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


class Phases(Protocol):
    """A run in named phases (`make bench`), each of a known number of steps."""

    def phase(self, name: str, total: int) -> None: ...

    def step(self, what: str) -> None: ...

    def stop(self) -> None: ...


class PhaseBar:
    """One rich bar per phase, each left on screen when done; the step under way is shown after it."""

    def __init__(self, run: str, phases: int, stream: TextIO | None = None) -> None:
        self._run, self._phases, self._number = run, phases, 0
        self._bar = _rich_bar(
            "{task.description}",
            TextColumn("{task.fields[what]}"),
            stream=stream,
            refresh_per_second=2,  # the bench measures this process: redrawn sparingly
        )
        self._task: TaskID | None = None

    def phase(self, name: str, total: int) -> None:
        self._number += 1
        if self._task is None:
            self._bar.start()
        else:
            self._bar.update(self._task, what="")
        self._task = self._bar.add_task(
            f"{self._run} {self._number}/{self._phases} {name}", total=total, what=""
        )

    def step(self, what: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=1, what=what)

    def stop(self) -> None:
        self._bar.stop()


class PhaseLines:
    """A line when a phase starts, then one every `interval` seconds: the step under way, done/total,
    the phase's ETA."""

    def __init__(self, run: str, phases: int, stream: TextIO | None = None, interval: float = 15.0) -> None:
        self._run, self._phases, self._number = run, phases, 0
        self._stream = stream or sys.stderr
        self._interval = interval
        self._name, self._total, self._done = "", 0, 0
        self._started = self._last = time.monotonic()

    def phase(self, name: str, total: int) -> None:
        self._number += 1
        self._name, self._total, self._done = name, total, 0
        self._started = self._last = time.monotonic()
        self._print(f"{self._run}: phase {self._number}/{self._phases}, {name}: {total:,} steps")

    def step(self, what: str) -> None:
        self._done += 1
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        _, eta = _eta(self._done, 0, self._total, self._started, now)
        self._print(
            f"{self._run}: phase {self._number}/{self._phases}, {self._name}: {self._done:,}/{self._total:,}"
            f" ({100 * self._done / max(self._total, 1):.0f}%), {what}, phase ETA {eta}"
        )

    def stop(self) -> None:
        pass

    def _print(self, text: str) -> None:
        print(text, file=self._stream, flush=True)


def phases_for_stream(run: str, phases: int, stream: TextIO, interval: float = 15.0) -> Phases:
    """The bars on a terminal, plain lines otherwise."""
    return PhaseBar(run, phases, stream) if stream.isatty() else PhaseLines(run, phases, stream, interval)
