"""Token-accurate lengths: distributions to draw from, the word-to-token calibration, and the
``lengths`` section of ``load.json`` (asked and received lengths of every request).

A length distribution (``--input-dist``, ``--output-dist``) is written ``KIND:ARGS``:

- ``fixed:N`` (or just ``N``): always N tokens;
- ``uniform:LOW:HIGH``: a whole number in ``[LOW, HIGH]``, each equally likely;
- ``normal:MEAN:SD``: rounded, at least 1;
- ``lognormal:MEDIAN:SIGMA``: ``MEDIAN * exp(SIGMA * Z)`` rounded, ``Z`` standard normal (the
  long tail real prompt and answer lengths have).

Every draw is at least 1 and at most :data:`MAX_LENGTH`, from a PRNG seeded by ``--seed``.

Input lengths are asked in the endpoint's own tokens. The synthetic prompt is made of
words, so before the run chatgauge sends two probes of known word counts (``max_tokens``
1, not streamed) and reads ``usage.prompt_tokens`` of each: the endpoint's tokenizer and
chat template give ``prompt_tokens = overhead + per_word * words``, a straight line through
two points (:class:`TokenCalibration`). A prompt of N tokens then gets
``round((N - overhead) / per_word)`` words. Without usage in the answers there is no
calibration and one word is taken as one token (said in ``lengths.calibration``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from random import Random
from typing import Final, Literal

from chatgauge.loadtests._samples import RequestSample
from chatgauge.results.load import Histogram, LengthFigures, Lengths, Summary

MAX_LENGTH: Final = 1_000_000
HISTOGRAM_BINS: Final = 24
DistKind = Literal["fixed", "uniform", "normal", "lognormal"]
_ARITY: Final = {"fixed": 1, "uniform": 2, "normal": 2, "lognormal": 2}


@dataclass(frozen=True)
class LengthDist:
    """One length distribution (see the module docstring)."""

    kind: DistKind
    a: float
    b: float = 0.0

    def draw(self, rng: Random) -> int:
        """One length, in ``[1, MAX_LENGTH]``."""
        if self.kind == "fixed":
            value = self.a
        elif self.kind == "uniform":
            value = rng.randint(int(self.a), int(self.b))
        elif self.kind == "normal":
            value = rng.gauss(self.a, self.b)
        else:
            value = self.a * math.exp(self.b * rng.gauss(0.0, 1.0))
        return int(min(max(round(value), 1), MAX_LENGTH))

    def text(self) -> str:
        """The distribution as ``--input-dist`` takes it."""
        if self.kind == "fixed":
            return f"fixed:{self.a:g}"
        return f"{self.kind}:{self.a:g}:{self.b:g}"


def parse_length(text: str, *, name: str = "--input-dist") -> LengthDist:
    """``KIND:ARGS`` as a :class:`LengthDist`; ``ValueError`` with one line otherwise."""
    parts = text.strip().split(":")
    if len(parts) == 1:
        parts = ["fixed", parts[0]]
    kind, *args = parts
    if kind not in _ARITY or len(args) != _ARITY[kind]:
        raise ValueError(
            f"{name} takes fixed:N, uniform:LOW:HIGH, normal:MEAN:SD or lognormal:MEDIAN:SIGMA, "
            f"got {text!r}"
        )
    try:
        numbers = [float(arg) for arg in args]
    except ValueError:
        raise ValueError(f"{name}: {text!r} has a value that is not a number") from None
    if not all(math.isfinite(n) for n in numbers) or numbers[0] < 1:
        raise ValueError(f"{name}: lengths must be finite and at least 1, got {text!r}")
    if kind == "uniform" and not (numbers[1] >= numbers[0] and numbers[0] == int(numbers[0])):
        raise ValueError(f"{name}: uniform needs whole LOW <= HIGH, got {text!r}")
    if kind in ("normal", "lognormal") and numbers[1] < 0:
        raise ValueError(f"{name}: the spread must be 0 or more, got {text!r}")
    return LengthDist(kind, numbers[0], numbers[1] if len(numbers) > 1 else 0.0)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TokenCalibration:
    """``prompt_tokens = overhead + per_word * words`` as the endpoint counted two probes."""

    overhead: float
    per_word: float

    def words_for(self, tokens: int) -> int:
        """Words of synthetic filler that make a prompt of about ``tokens`` tokens."""
        return max(1, round((tokens - self.overhead) / self.per_word))

    def text(self) -> str:
        """As ``--token-calibration`` takes it."""
        return f"{self.overhead!r}:{self.per_word!r}"

    @classmethod
    def from_probes(cls, short: tuple[int, int], long: tuple[int, int]) -> TokenCalibration:
        """From two ``(words, prompt_tokens)`` probes; ``ValueError`` when they cannot fit."""
        (w1, t1), (w2, t2) = short, long
        if w2 <= w1 or t2 <= t1:
            raise ValueError("the probes' prompt_tokens do not grow with the prompt")
        per_word = (t2 - t1) / (w2 - w1)
        return cls(overhead=t1 - per_word * w1, per_word=per_word)

    @classmethod
    def parse(cls, text: str) -> TokenCalibration:
        """``OVERHEAD:PER_WORD``; ``ValueError`` otherwise."""
        overhead, _, per_word = text.partition(":")
        try:
            value = cls(float(overhead), float(per_word))
        except ValueError:
            raise ValueError(f"--token-calibration takes OVERHEAD:PER_WORD, got {text!r}") from None
        if not (math.isfinite(value.overhead) and math.isfinite(value.per_word)) or not (
            value.per_word > 0
        ):
            raise ValueError(f"--token-calibration needs a positive PER_WORD, got {text!r}")
        return value


class LengthCounts:
    """Exact figures of whole-number lengths kept as ``length -> how many``: memory and the
    cost of a figure follow the number of distinct lengths, not of requests (a run asks a
    few hundred lengths however long it lasts; the live ``load.json`` reads these once a
    second). Percentiles interpolate as :func:`~chatgauge.loadtests._stats.quantile` does."""

    __slots__ = ("_counts", "count")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0

    def add(self, length: int) -> None:
        """Count one length."""
        self._counts[length] = self._counts.get(length, 0) + 1
        self.count += 1

    @property
    def high(self) -> int:
        """The largest length counted (0 with none)."""
        return max(self._counts, default=0)

    def summary(self) -> Summary:
        """``count``, ``mean``, ``min``, the percentiles and ``max``: what
        :func:`~chatgauge.loadtests._stats.summarize` gives for the same values."""
        if not self.count:
            return Summary()
        ordered = sorted(self._counts.items())
        fractions = (0.50, 0.90, 0.95, 0.99, 0.999)
        # Each fraction's neighbours: the values at 0-based ranks lower and lower + 1.
        wanted = sorted({r for q in fractions for r in _ranks(self.count, q)})
        at = _values_at(ordered, wanted)
        p50, p90, p95, p99, p999 = (_interpolated(self.count, q, at) for q in fractions)
        total = sum(length * times for length, times in ordered)
        return Summary(
            count=self.count,
            mean=total / self.count,
            min=float(ordered[0][0]),
            p50=p50,
            p90=p90,
            p95=p95,
            p99=p99,
            p999=p999,
            max=float(ordered[-1][0]),
        )

    def histogram(self, high: float, bins: int = HISTOGRAM_BINS) -> Histogram:
        """Equal-width bins from 0 to ``high`` (lengths past it counted as overflow)."""
        if not self.count or high <= 0:
            return Histogram()
        width = high / bins
        counts = [0] * bins
        overflow = 0
        for length, times in self._counts.items():
            if length > high:
                overflow += times
            else:
                counts[min(int(length / width), bins - 1)] += times
        return Histogram(
            edges=tuple(i * width for i in range(bins + 1)), counts=tuple(counts), overflow=overflow
        )


def _ranks(count: int, q: float) -> tuple[int, int]:
    lower = math.floor((count - 1) * q)
    return lower, min(lower + 1, count - 1)


def _values_at(ordered: list[tuple[int, int]], ranks: list[int]) -> dict[int, float]:
    """The value at each of ``ranks`` (ascending) of the counted values."""
    found: dict[int, float] = {}
    seen = 0
    wanted = iter(ranks)
    rank = next(wanted, None)
    for length, times in ordered:
        seen += times
        while rank is not None and rank < seen:
            found[rank] = float(length)
            rank = next(wanted, None)
        if rank is None:
            break
    return found


def _interpolated(count: int, q: float, at: dict[int, float]) -> float:
    position = (count - 1) * q
    lower, upper = _ranks(count, q)
    below, above = at[lower], at[upper]
    weight = position - lower
    if weight == 0.0 or below == above:
        return below
    return float(min(max(below + weight * (above - below), below), above))


def _figures(asked: LengthCounts, received: LengthCounts) -> LengthFigures:
    high = max(asked.high, received.high)
    return LengthFigures(
        asked=asked.summary(),
        received=received.summary(),
        asked_histogram=asked.histogram(high),
        received_histogram=received.histogram(high),
    )


class LengthTally:
    """The four lengths of each successful request, counted per distinct length (no sample
    is kept, and nothing grows with the number of requests)."""

    def __init__(self, default_output: int) -> None:
        self.default_output = default_output
        self.asked_in = LengthCounts()
        self.got_in = LengthCounts()
        self.asked_out = LengthCounts()
        self.got_out = LengthCounts()

    def add(self, sample: RequestSample) -> None:
        """Count one request (a failed one has no lengths to compare)."""
        if not sample.ok:
            return
        if sample.asked_input_tokens is not None:
            self.asked_in.add(int(sample.asked_input_tokens))
        if sample.prompt_tokens is not None:
            self.got_in.add(int(sample.prompt_tokens))
        asked = sample.asked_output_tokens
        self.asked_out.add(int(asked if asked is not None else self.default_output))
        self.got_out.add(int(sample.output_tokens))

    def section(self, *, calibration: str, source: str) -> Lengths:
        """The ``lengths`` section of what was added (see :class:`Lengths`)."""
        return Lengths(
            source=source,
            calibration=calibration,
            input=_figures(self.asked_in, self.got_in),
            output=_figures(self.asked_out, self.got_out),
        )


def length_section(
    samples: Iterable[RequestSample], *, default_output: int, calibration: str, source: str
) -> Lengths:
    """Asked and received lengths of the successful requests (see :class:`Lengths`)."""
    tally = LengthTally(default_output)
    for sample in samples:
        tally.add(sample)
    return tally.section(calibration=calibration, source=source)


__all__ = [
    "MAX_LENGTH",
    "LengthCounts",
    "LengthDist",
    "LengthTally",
    "TokenCalibration",
    "length_section",
    "parse_length",
]
