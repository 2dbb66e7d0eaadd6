"""Where Hypothesis may write while chatgauge's properties run: never the user's directory.

The property checks run Hypothesis with ``database=None``, yet Hypothesis still writes
caches into its storage directory, ``./.hypothesis`` by default: the literals it mines from
every local (not site-packages) module it finds imported, under ``constants/``, and its
Unicode tables, under ``unicode_data/``. So ``chatgauge check`` run in a project left a
``.hypothesis/`` there. While a property runs, the storage directory is chatgauge's own
cache (``$XDG_CACHE_HOME/chatgauge/hypothesis``, else ``~/.cache/chatgauge/hypothesis``),
then the previous one is restored, so a pytest session's own Hypothesis tests keep theirs.
A ``HYPOTHESIS_STORAGE_DIRECTORY`` the user set is respected as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import configuration


def cache_directory() -> Path:
    """chatgauge's Hypothesis cache: under ``$XDG_CACHE_HOME``, else ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chatgauge" / "hypothesis"


@contextmanager
def chatgauge_storage() -> Iterator[None]:
    """Point Hypothesis's storage directory at :func:`cache_directory` for the block."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    previous = configuration.storage_directory(intent_to_write=False).home_directory
    configuration.set_hypothesis_home_dir(cache_directory())
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)


__all__ = ["cache_directory", "chatgauge_storage"]
