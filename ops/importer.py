"""`push-registry import`: a JSON Lines export adopted into the registry table, resumably, at a bounded rate.

The file may be gzip-compressed (as a Pinpoint export job writes it), and a source may also read one
JSON document listing its rows (Pinpoint's `get-user-endpoints` output); a "line" is then a row of it.
Rows are read in order and adopted by concurrent workers (`push_registry.adoption`), each DynamoDB
request paced to `--rate` per second. Outcomes are committed in line order: the checkpoint names the
first line whose outcome is not yet committed, so a run stopped anywhere (Ctrl-C, SIGTERM, a crash,
SIGKILL) continues from there, and lines that were in flight are adopted again, which changes nothing
(adoption is idempotent). The rejects and conflicts reports are written in line order too, and cut back
to the checkpoint when a run resumes, so a resumed run's reports equal an uninterrupted run's.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO
from urllib.parse import urlsplit

import botocore.session
from botocore.config import Config

from ops.operator_api import is_loopback as _is_loopback
from ops.progress import Progress
from ops.sources import SOURCES, Rejected, Skipped, Source, record_of
from push_registry.adoption import Adopted, Adoption, AdoptionResult
from push_registry.errors import Unavailable
from push_registry.registration import Registration, iso, token_fingerprint, utc_now
from push_registry.storage import RegistrationStore

CHECKPOINT_FORMAT = 1
DEFAULT_RATE = 200.0
DEFAULT_WORKERS = 16
_HEAD_BYTES = 1 << 20
_CHECKPOINT_EVERY_SECONDS = 1.0
_UNAVAILABLE_ATTEMPTS = 5
# The operations the store sends: each one is paced.
_PACED = frozenset(
    {"get_item", "batch_get_item", "query", "put_item", "update_item", "delete_item", "transact_write_items"}
)


class ImportFailed(Exception):
    """The run stopped before the end of the file; the checkpoint lets the same command continue."""

    def __init__(self, message: str, summary: Summary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class Counts:
    imported: int = 0
    refreshed: int = 0
    unchanged: int = 0
    expired: int = 0
    inactive: int = 0
    opted_out: int = 0  # the person asked for no messages (Pinpoint's OptOut ALL)
    anonymous: int = 0  # no user to register the token to (a Pinpoint endpoint without User.UserId)
    not_push: int = 0  # not a push channel (Pinpoint's email, SMS, voice, in-app and custom endpoints)
    retired: int = 0
    rejected: int = 0
    won: int = 0
    lost: int = 0
    capped: int = 0  # the owner keeps MaxDevicesPerUser registrations, each used after the record
    evicted: int = 0  # registrations deactivated for the cap by imported records (not a record count)

    @property
    def conflicts(self) -> int:
        return self.won + self.lost

    @property
    def records(self) -> int:
        return sum(value for name, value in vars(self).items() if name != "evicted")

    def as_dict(self) -> dict[str, int]:
        return {**vars(self), "conflicts": self.conflicts, "records": self.records}


@dataclass(frozen=True)
class ImportJob:
    path: Path
    source: str
    table: str
    endpoint_url: str | None = None
    region: str | None = None
    rate: float = DEFAULT_RATE
    workers: int = DEFAULT_WORKERS
    lifetime: timedelta = timedelta(days=30)
    max_devices_per_user: int = 20  # the stack's MaxDevicesPerUser: an import keeps the API's cap
    restart: bool = False
    checkpoint: Path | None = None
    rejects: Path | None = None
    conflicts: Path | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint or self.path.with_name(self.path.name + ".checkpoint.json")

    @property
    def rejects_path(self) -> Path:
        return self.rejects or self.path.with_name(self.path.name + ".rejects.jsonl")

    @property
    def conflicts_path(self) -> Path:
        return self.conflicts or self.path.with_name(self.path.name + ".conflicts.jsonl")


@dataclass
class Summary:
    counts: Counts
    seconds: float
    rate: float
    resumed_at_line: int = 1
    complete: bool = True

    @property
    def records_per_second(self) -> float:
        return self.counts.records / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.counts.as_dict(),
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.records_per_second, 1),
            "rate": self.rate,
            "resumed_at_line": self.resumed_at_line,
            "complete": self.complete,
        }


@dataclass
class _Outcome:
    line: int
    end: int  # byte offset just after the line
    kind: str  # an Adopted value, "rejected" or a Skipped kind: a field of Counts
    evicted: int = 0  # the owner's registrations this record's import deactivated for the cap
    reject: dict[str, Any] | None = None
    conflict: dict[str, Any] | None = None
    failure: BaseException | None = None


@dataclass
class _Checkpoint:
    line: int = 1  # the first line whose outcome is not committed
    offset: int = 0
    counts: Counts = field(default_factory=Counts)
    seconds: float = 0.0


class Pace:
    """At most `rate` calls per second across threads, evenly spaced (no bursts)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


class PacedClient:
    """A botocore DynamoDB client whose requests wait for their turn under a Pace."""

    def __init__(self, client: Any, pace: Pace) -> None:
        self._client = client
        self._pace = pace

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in _PACED:
            return attribute

        def paced(**request: Any) -> Any:
            self._pace.wait()
            return attribute(**request)

        return paced


def dynamodb_client(job: ImportJob) -> Any:
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 5},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=job.workers + 2,
    )
    session = botocore.session.get_session()
    region = job.region or session.get_config_variable("region")
    local: dict[str, str] = {}
    if job.endpoint_url and _is_loopback(urlsplit(job.endpoint_url).hostname or ""):
        # `make run`'s DynamoDB Local keeps one database per access key and region: the same defaults
        # as the local API's (local/server.py), unless the caller set their own.
        region = region or "us-east-1"
        if session.get_credentials() is None:
            local = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    return session.create_client(
        "dynamodb", endpoint_url=job.endpoint_url, region_name=region, config=config, **local
    )


def run_import(
    job: ImportJob, progress: Progress, client: Any | None = None, stop: threading.Event | None = None
) -> Summary:
    """Adopt every row of the job's file; ImportFailed (checkpoint saved) when stopped or failing."""
    if job.source not in SOURCES:
        raise ValueError(f"unknown source {job.source!r}")
    if job.rate <= 0 or job.workers <= 0:
        raise ValueError("--rate and --workers must be positive")
    return _Run(job, progress, client or dynamodb_client(job), stop or threading.Event()).run()


class _Run:
    """One run over the file: a reader submitting rows, workers adopting them, commits in line order."""

    def __init__(self, job: ImportJob, progress: Progress, client: Any, stop: threading.Event) -> None:
        self.job, self.progress, self.stop = job, progress, stop
        self.source = SOURCES[job.source]
        self.export = _Export(job.path, self.source)
        self.head = _file_head(job.path)
        self.checkpoint = _Checkpoint() if job.restart else _load_checkpoint(job, self.head, self.export.size)
        self.adoption = Adoption(
            RegistrationStore(
                PacedClient(client, Pace(job.rate)), job.table, max_devices_per_user=job.max_devices_per_user
            ),
            lifetime=job.lifetime,
        )
        self.results: queue.Queue[_Outcome] = queue.Queue()
        # Rows read ahead of the workers: enough to keep them busy, bounded for memory.
        self.in_flight = threading.BoundedSemaphore(job.workers * 4)
        self.pending: dict[int, _Outcome] = {}
        self.failure: BaseException | None = None
        self.last_saved = time.monotonic()

    def run(self) -> Summary:
        job, checkpoint = self.job, self.checkpoint
        _cut_reports_back(job, checkpoint.line)
        resumed_at = checkpoint.line
        total = self.export.total
        self.progress.start(total=total, done=resumed_at - 1)
        with (
            _Reports(job) as self.reports,
            ThreadPoolExecutor(job.workers, thread_name_prefix="adopt") as pool,
            _stop_on_signals(self.stop),
        ):
            line = checkpoint.line
            for raw, end in self.export.rows(checkpoint.offset):
                if not self.slot_free():
                    break
                pool.submit(self.adopt, line, end, raw).add_done_callback(self.collect(line, end))
                line += 1
                if line % 64 == 0:
                    self.commit()
            pool.shutdown(wait=True)
            self.commit(final=True)
        self.progress.stop()
        summary = Summary(checkpoint.counts, checkpoint.seconds, job.rate, resumed_at_line=resumed_at)
        if self.failure is not None:
            summary.complete = False
            raise ImportFailed(_describe(self.failure), summary) from self.failure
        if checkpoint.line <= total:
            summary.complete = False
            raise ImportFailed(
                f"stopped before line {checkpoint.line}: run the same command again to continue", summary
            )
        job.checkpoint_path.unlink(missing_ok=True)
        return summary

    def adopt(self, line: int, end: int, raw: bytes) -> _Outcome:
        """In a worker: one row, parsed, validated by its API's model and adopted."""
        if not raw:
            return _Outcome(line, end, "blank")
        try:
            row = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _rejected(line, end, "the line is not JSON", raw)
        try:
            # Apart from the parse above: a ValueError of a field's reader is not "the line is not JSON".
            record = record_of(self.source, row, utc_now())
        except Rejected as rejected:
            return _rejected(line, end, rejected.reason, raw)
        except Skipped as skipped:
            return _Outcome(line, end, skipped.kind)
        for attempt in range(_UNAVAILABLE_ATTEMPTS):
            try:
                return _adopted(line, end, self.adoption.adopt(record))
            except Unavailable:
                time.sleep(min(2.0**attempt, 10.0))
        raise ImportFailed("DynamoDB stayed unavailable (throttling or faults)")

    def collect(self, line: int, end: int) -> Callable[[Future[_Outcome]], None]:
        def done(future: Future[_Outcome]) -> None:
            self.in_flight.release()
            error = future.exception()
            self.results.put(_Outcome(line, end, "failed", failure=error) if error else future.result())

        return done

    def slot_free(self) -> bool:
        """Wait for room to read ahead, committing meanwhile; False once the run must stop."""
        while not self.in_flight.acquire(timeout=0.2):
            self.commit()
            if self.stop.is_set() or self.failure is not None:
                return False
        if self.stop.is_set() or self.failure is not None:
            self.in_flight.release()
            return False
        return True

    def commit(self, final: bool = False) -> None:
        """Count and report finished rows in line order; save the checkpoint every second."""
        checkpoint = self.checkpoint
        while True:
            try:
                outcome = self.results.get_nowait()
            except queue.Empty:
                break
            self.pending[outcome.line] = outcome
            if outcome.failure is not None:
                self.failure = self.failure or outcome.failure  # read no more; commit up to it
        while checkpoint.line in self.pending:
            if self.pending[checkpoint.line].failure is not None:
                break  # not committed: the resumed run adopts it again
            outcome = self.pending.pop(checkpoint.line)
            if outcome.kind != "blank":
                setattr(checkpoint.counts, outcome.kind, getattr(checkpoint.counts, outcome.kind) + 1)
                checkpoint.counts.evicted += outcome.evicted
            self.reports.write(outcome)
            checkpoint.line, checkpoint.offset = outcome.line + 1, outcome.end
            self.progress.advance(checkpoint.line - 1, checkpoint.counts)
        now = time.monotonic()
        if final or now - self.last_saved >= _CHECKPOINT_EVERY_SECONDS:
            self.reports.flush()  # reports first: a resumed run cuts them back to the checkpoint
            checkpoint.seconds += now - self.last_saved
            self.last_saved = now
            _save_checkpoint(self.job, self.head, checkpoint)


# ---------------------------------------------------------------------- outcomes and reports


def _rejected(line: int, end: int, reason: str, raw: bytes) -> _Outcome:
    return _Outcome(
        line, end, "rejected", reject={"line": line, "reason": reason, "row": raw.decode("utf-8", "replace")}
    )


def _adopted(line: int, end: int, result: AdoptionResult) -> _Outcome:
    conflict = None
    if result.outcome in (Adopted.WON, Adopted.LOST) and result.registration and result.other:
        kept, dropped = (
            (result.registration, result.other)
            if result.outcome is Adopted.WON
            else (result.other, result.registration)
        )
        conflict = {
            "line": line,
            "token": token_fingerprint(kept.token),  # a fingerprint: reports are shared, tokens are not
            "outcome": result.outcome.value,
            "kept": _side(kept),
            "dropped": _side(dropped),
        }
    return _Outcome(line, end, result.outcome.value, conflict=conflict, evicted=len(result.evicted))


def _side(registration: Registration) -> dict[str, str]:
    return {
        "source": registration.source,
        "user_id": registration.owner,
        "id": registration.id,
        "last_used_at": iso(registration.last_used_at),
    }


class _Reports:
    """The rejects and conflicts files, appended in line order."""

    def __init__(self, job: ImportJob) -> None:
        self._paths = (job.rejects_path, job.conflicts_path)
        self._files: list[TextIO] = []

    def __enter__(self) -> _Reports:
        self._files = [path.open("a", encoding="utf-8") for path in self._paths]
        return self

    def __exit__(self, *_: object) -> None:
        for file in self._files:
            file.close()

    def write(self, outcome: _Outcome) -> None:
        for file, entry in zip(self._files, (outcome.reject, outcome.conflict), strict=True):
            if entry is not None:
                file.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        for file in self._files:
            file.flush()
            os.fsync(file.fileno())


def _cut_reports_back(job: ImportJob, first_uncommitted: int) -> None:
    """Keep only entries of committed lines: the lines after them are adopted (and reported) again."""
    for path in (job.rejects_path, job.conflicts_path):
        if not path.exists():
            continue
        if first_uncommitted <= 1:
            path.unlink()
            continue
        kept = []
        with path.open(encoding="utf-8") as file:
            for text in file:
                try:
                    if json.loads(text)["line"] < first_uncommitted:
                        kept.append(text)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill
        path.write_text("".join(kept), encoding="utf-8")


# ---------------------------------------------------------------------- the file and the checkpoint


class _Export:
    """The file's rows: JSON Lines, gzip-compressed or not (by its magic bytes, not its name), or one JSON
    document whose rows the source finds (`Source.records_in`). A position is a byte offset into the
    (decompressed) lines, or, in a document, the number of rows before it."""

    def __init__(self, path: Path, source: Source) -> None:
        self._path = path
        with path.open("rb") as file:
            self._compressed = file.read(2) == b"\x1f\x8b"
        self._document = None if source.records_in is None else self._records(source.records_in)
        if self._document is not None:
            self.total = self.size = len(self._document)
        else:
            with self._open() as file:
                self.total, self.size = 0, 0
                for raw in file:
                    self.total, self.size = self.total + 1, self.size + len(raw)

    def _open(self) -> gzip.GzipFile | io.BufferedReader:
        return gzip.open(self._path, "rb") if self._compressed else self._path.open("rb")

    def _records(self, records_in: Callable[[Any], list[Any] | None]) -> list[Any] | None:
        """The document's rows, or None when the file is JSON Lines (its first line a JSON value that is
        no such document, or no JSON at all: then each line is judged on its own)."""
        with self._open() as file:
            first = next((raw for raw in file if raw.strip()), b"")
            try:
                return records_in(json.loads(first))
            except (ValueError, UnicodeDecodeError):
                pass  # not one value a line: perhaps one document over many lines
            file.seek(0)
            try:
                document = json.load(file)
            except (ValueError, UnicodeDecodeError):
                return None
        records = records_in(document)
        if records is None:
            raise ImportFailed(f"{self._path} holds one JSON document, but not one this source reads")
        return records

    def rows(self, offset: int) -> Iterator[tuple[bytes, int]]:
        """(row, position after it) from `offset` on, blank lines skipped but counted."""
        if self._document is not None:
            for index in range(offset, len(self._document)):
                yield json.dumps(self._document[index], separators=(",", ":")).encode(), index + 1
            return
        with self._open() as file:
            file.seek(offset)
            position = offset
            for raw in file:
                position += len(raw)
                yield raw.strip(), position


def _file_head(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.sha256(file.read(_HEAD_BYTES)).hexdigest()


def _load_checkpoint(job: ImportJob, head: str, size: int) -> _Checkpoint:
    path = job.checkpoint_path
    if not path.exists():
        return _Checkpoint()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        same_file = (saved["format"], saved["source"], saved["head"]) == (CHECKPOINT_FORMAT, job.source, head)
        checkpoint = _Checkpoint(
            line=int(saved["line"]),
            offset=int(saved["offset"]),
            counts=Counts(**saved["counts"]),
            seconds=float(saved["seconds"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ImportFailed(f"{path} is not a checkpoint of this tool: remove it or pass --restart") from error
    if not same_file or checkpoint.offset > size:
        raise ImportFailed(f"{path} belongs to another file or source: remove it or pass --restart")
    return checkpoint


def _save_checkpoint(job: ImportJob, head: str, checkpoint: _Checkpoint) -> None:
    """Written aside and renamed over the old one: a kill never leaves half a checkpoint."""
    data = {
        "format": CHECKPOINT_FORMAT,
        "file": str(job.path),
        "source": job.source,
        "head": head,
        "line": checkpoint.line,
        "offset": checkpoint.offset,
        "counts": vars(checkpoint.counts),
        "seconds": checkpoint.seconds,
    }
    path = job.checkpoint_path
    aside = path.with_name(path.name + ".tmp")
    aside.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(aside, path)


class _stop_on_signals:
    """SIGINT and SIGTERM finish the records in flight, save the checkpoint and stop."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self._stop.set()

    def __exit__(self, *_: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def _describe(error: BaseException) -> str:
    if isinstance(error, ImportFailed):
        return str(error)
    # A botocore error names the table or the credentials, never a token.
    return f"{type(error).__name__}: {error}"
