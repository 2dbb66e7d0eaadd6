"""The request and token budget of a conformance run.

Every request the suite sends is small (``max_tokens`` capped, ``n <= 3``) and the run has
hard caps on requests and tokens, so pointing chatgauge at a paid endpoint costs a known,
small amount. The run prints what it used.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_TOKENS = 16
"""``max_tokens`` of every request the checks send (unless a check needs a smaller one)."""
DEFAULT_MAX_REQUESTS = 400
DEFAULT_MAX_TOTAL_TOKENS = 40_000
MAX_N = 3


class BudgetExhausted(Exception):
    """A cap on requests or tokens was reached; no further request is sent."""


@dataclass
class Budget:
    """Counts requests and tokens; refuses to start a request once a cap is reached."""

    max_requests: int = DEFAULT_MAX_REQUESTS
    max_tokens: int = DEFAULT_MAX_TOTAL_TOKENS
    requests_sent: int = 0
    tokens_used: int = 0

    def reserve_request(self) -> None:
        """Count one request about to be sent, or raise :class:`BudgetExhausted`."""
        if self.requests_sent >= self.max_requests:
            raise BudgetExhausted(f"request cap of {self.max_requests} reached")
        if self.tokens_used >= self.max_tokens:
            raise BudgetExhausted(f"token cap of {self.max_tokens} reached")
        self.requests_sent += 1

    def add_tokens(self, count: int) -> None:
        """Add the prompt and completion tokens a response reported (or we estimated)."""
        self.tokens_used += max(0, count)
