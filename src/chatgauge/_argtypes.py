"""Value parsers shared by the command line and the pytest plugin's options."""

from __future__ import annotations

import argparse
import math
import re


def positive_int(text: str) -> int:
    """An integer >= 1; otherwise ``argparse.ArgumentTypeError`` saying what was wrong."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0; otherwise ``argparse.ArgumentTypeError``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (``2``, ``0.5``); otherwise ``ArgumentTypeError``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def positive_rate(text: str) -> float:
    """A finite rate > 0, e.g. requests per second (``5``, ``0.5``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]i?[bB]?|[bB]|)\s*$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def byte_size(text: str) -> int:
    """A size in bytes: ``1048576``, ``64KiB``, ``16MiB``, ``1.5 MiB`` (K, M, G are powers
    of 1024, with or without ``i`` and ``B``); at least 1 byte."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not a size: {text!r} (write bytes, or a number with KiB, MiB or GiB)"
        )
    number, unit = match.groups()
    value = int(float(number) * _UNITS[unit[:1].lower()])
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text!r}")
    return value
