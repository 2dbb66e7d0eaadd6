"""What the users of one run share in one process: options, prompts, pacing, where samples go.

A :class:`Traffic` is made fresh when a run starts; the users spawned for that run hold it.
They take a request from its budget (:meth:`Traffic.acquire`), wait for its next intended
start in open-loop mode, count themselves in flight and hand each finished request's sample
to :meth:`Traffic.record`, which passes it on to this process's role: the run's store
(a single process) or the shipper (a worker).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from chatgauge._jsonguard import parse_json
from chatgauge._secret import Secret
from chatgauge.loadtests._http import Connection, HttpTransportError, request_head
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._pacing import Pacing
from chatgauge.loadtests._prompts import PromptSet, load_prompts, synthetic_prompts
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._workloads import Workload, prompt_file_lengths
from chatgauge.results import safe_text


def workload_for(options: RunOptions) -> Workload | None:
    """The per-request workload the options ask for (``None``: the prompt set and one
    ``max_tokens``, as before)."""
    entries = prompt_file_lengths(Path(options.prompts)) if options.prompts else None
    if not options.workload.active and entries is None:
        return None
    return Workload(
        options.workload,
        seed=options.seed,
        default_max_tokens=options.max_tokens,
        prompt_file_entries=entries,
    )


def prompts_for(options: RunOptions) -> PromptSet:
    """The prompt file's prompts, or the synthetic set of the asked length."""
    if options.prompts:
        return load_prompts(Path(options.prompts))
    return synthetic_prompts(options.input_words, seed=options.seed)


class ModelLookup:
    """``--model``, else the first id ``GET {base}/models`` lists (asked once per process)."""

    def __init__(self) -> None:
        self.found: str | None = None

    def model(self, options: RunOptions, connection: Connection) -> str:
        """The model to request."""
        if options.model:
            return options.model
        if self.found is None:
            self.found = _discover_model(connection, options.api_key)
        return self.found


class Traffic:
    """The users' side of one run in one process (see the module docstring)."""

    def __init__(
        self,
        *,
        options: RunOptions,
        prompts: PromptSet,
        pacing: Pacing,
        sink: Callable[[RequestSample], None],
        worker: str,
        models: ModelLookup,
    ) -> None:
        self.options = options
        self.prompts = prompts
        self.worker = worker
        self.in_flight = 0
        self.workload = workload_for(options)
        self.backoffs = 0
        """Waits the users of this process took after failures that ask for backoff."""
        self.unsent = 0
        """Open loop: measured slots that were due before the run ended but never went out
        (every user busy, or the end came while connecting); set by :meth:`count_unsent`."""
        self._pacing = pacing
        self._sink = sink
        self._models = models

    @property
    def secret(self) -> Secret | None:
        """The API key sent with every request."""
        return self.options.api_key

    def acquire(self) -> bool:
        """Take one request from the ``--max-requests`` budget; ``False`` when it is spent."""
        return self._pacing.acquire()

    def next_start_ns(self) -> int | None:
        """The next intended start in open-loop mode; ``None`` in a closed loop."""
        return self._pacing.next_start_ns()

    def record(self, sample: RequestSample) -> None:
        """Keep one finished request's sample."""
        self._sink(sample)

    def miss(self, slot_ns: int) -> None:
        """A slot a user took whose request the end of the run stopped before it went out."""
        self.unsent += self._pacing.measured(slot_ns)

    def count_unsent(self, now_ns: int) -> int:
        """Once the users have stopped: add the schedule's slots nobody took to
        :attr:`unsent` (a trace times its own requests: none there); the total."""
        if not self.options.workload.trace:
            self.unsent += self._pacing.unsent(now_ns)
        return self.unsent

    def model(self, connection: Connection) -> str:
        """The model to request (``--model`` or the endpoint's first)."""
        return self._models.model(self.options, connection)


def _discover_model(connection: Connection, key: Secret | None) -> str:
    """The first model id ``GET {base}/models`` lists; ``""`` (and a warning) when it fails."""
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    if key:
        headers["Authorization"] = f"Bearer {key.reveal()}"
    head = request_head("GET", f"{connection.origin.prefix}/models", headers)
    try:
        _, response = connection.request(head, b"")
        body = response.read_all(1 << 20)
        if response.status == 200:
            listing = parse_json(body)
            models = listing.get("data") if isinstance(listing, dict) else None
            first = models[0] if isinstance(models, list) and models else None
            if isinstance(first, dict) and isinstance(first.get("id"), str):
                return safe_text(first["id"], key, 200)
    except (HttpTransportError, ValueError):
        pass
    print("chatgauge: no --model given and GET /models named none", file=sys.stderr)
    return ""


__all__ = ["ModelLookup", "Traffic", "prompts_for"]
