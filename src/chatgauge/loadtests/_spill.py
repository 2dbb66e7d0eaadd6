"""The raw-samples file: every request of a run, one JSON object per line, as it finishes.

Format: JSON Lines (``samples.jsonl`` beside ``load.json``), chosen over CSV because a request
has a variable number of token events: a JSON array holds the stamps and gaps of one request
in one record, where CSV would need a second file or a packed string. pandas
(``pandas.read_json(path, lines=True)``) and DuckDB (``read_json_auto('samples.jsonl')``)
read it directly, and writing it needs nothing beyond the standard library. The fields are
those of :class:`~chatgauge.loadtests._samples.RequestSample` (``docs/raw-samples.md``
describes each one), plus two derived for analysis: ``t_first_token_ns`` and ``itl_ns``, the
raw gaps between consecutive token events.

Every record is written when its request is recorded (by the process that computes the
results: a local run, or the master, which writes its workers' records on its own clock),
flushed once a second by the reporter and at the end, so an interrupted run keeps every
request it finished. The final ``load.json`` is computed from this file
(:func:`read_raw_samples`), one record at a time, so memory does not follow the run's length.
Endpoint text (``error``, ``response_id``) is stored masked like everything chatgauge writes.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from chatgauge._secret import Secret
from chatgauge.loadtests._samples import RequestSample
from chatgauge.results import safe_text

SPILL_NAME: Final = "samples.jsonl"
_BUFFER_BYTES: Final = 1 << 20
_TUPLES: Final = ("token_event_ns", "token_event_counts")
_DERIVED: Final = ("t_first_token_ns", "itl_ns")


def spill_record(
    sample: RequestSample, secret: Secret | None = None, *, derived: bool = True
) -> dict[str, Any]:
    """One request's line: its sample's fields and (``derived``) the first-token stamp and
    the raw gaps."""
    record = sample.to_json()
    if derived:
        stamps = sample.token_event_ns
        record["t_first_token_ns"] = stamps[0] if stamps else None
        record["itl_ns"] = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    for key in ("error", "response_id"):
        if record[key] is not None:
            record[key] = safe_text(record[key], secret)
    return record


def sample_of(record: dict[str, Any]) -> RequestSample:
    """The sample a line of this file holds (``KeyError``/``TypeError`` when it is not one)."""
    fields = {k: v for k, v in record.items() if k not in _DERIVED}
    for key in _TUPLES:
        fields[key] = tuple(fields.get(key) or ())
    return RequestSample(**fields)


class SpillWriter:
    """Appends records to one file; a file that cannot be written costs one line on stderr
    and turns the writer off (``broken``), never the run."""

    def __init__(self, path: Path, secret: Secret | None = None, *, plain: bool = False) -> None:
        self.path = path
        self.records = 0
        self.broken = False
        self._secret = secret
        self._plain = plain
        self._file: IO[str] | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8", buffering=_BUFFER_BYTES)
        except OSError as exc:
            self._fail(exc)

    @classmethod
    def temporary(cls, secret: Secret | None = None) -> SpillWriter:
        """A writer to a new file in the temporary folder (a run without ``--report-dir``)."""
        handle, name = tempfile.mkstemp(prefix="chatgauge-samples-", suffix=".jsonl")
        os.close(handle)
        return cls(Path(name), secret)

    def _fail(self, exc: OSError) -> None:
        if not self.broken:
            print(f"chatgauge: cannot write raw samples to {self.path}: {exc}", file=sys.stderr)
        self.broken = True
        self.close()

    def write(self, sample: RequestSample) -> None:
        """Append one request's record."""
        if self._file is None:
            return
        record = spill_record(sample, self._secret, derived=not self._plain)
        try:
            self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            self._file.write("\n")
        except OSError as exc:
            self._fail(exc)
            return
        self.records += 1

    def flush(self) -> None:
        """Hand what is buffered to the operating system (a reader sees whole lines)."""
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        """Flush and close (idempotent)."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                self._file = None
                self._fail(exc)

    def remove(self) -> None:
        """Close and delete the file (a temporary spill once the run is reported)."""
        self.close()
        self.path.unlink(missing_ok=True)


def read_raw_samples(path: Path) -> Iterator[RequestSample]:
    """Every sample of a raw-samples file, in the order written. A line that is not a
    whole record (a run killed while writing it) is skipped with one line on stderr."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                yield sample_of(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"chatgauge: {path}:{number}: not a sample record ({exc})", file=sys.stderr)


def dump_writer(folder: Path, secret: Secret | None = None) -> SpillWriter:
    """``--dump-samples``: ``FOLDER/samples-<pid>.jsonl``, one
    :meth:`RequestSample.to_json` per line, written as requests finish."""
    return SpillWriter(folder / f"samples-{os.getpid()}.jsonl", secret, plain=True)


__all__ = [
    "SPILL_NAME",
    "SpillWriter",
    "dump_writer",
    "read_raw_samples",
    "sample_of",
    "spill_record",
]
