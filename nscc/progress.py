"""Progress bars for long work (calibration, reports, builds), on stderr via tqdm.

Shown on a terminal only; set TQDM_DISABLE=1 to silence them there too."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def progress_bar(items: Iterable[T], desc: str, enabled: bool = True, unit: str = "batch") -> Iterator[T]:
    from tqdm import tqdm

    items = list(items)
    quiet = not enabled or len(items) < 2 or not sys.stderr.isatty() or os.environ.get("TQDM_DISABLE")
    yield from tqdm(items, desc=f"nscc: {desc}", disable=bool(quiet), file=sys.stderr, leave=False, unit=unit)


@contextmanager
def spinner(desc: str):
    """A one-line note on a terminal while something without steps runs (a build)."""
    show = sys.stderr.isatty() and not os.environ.get("TQDM_DISABLE")
    if show:
        sys.stderr.write(f"nscc: {desc}...")
        sys.stderr.flush()
    try:
        yield
    finally:
        if show:
            sys.stderr.write(" done\n")
