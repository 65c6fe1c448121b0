"""Progress bars for long work (calibration, reports, builds), on stderr via tqdm.

Set TQDM_DISABLE=1 to silence them."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress_bar(items: Iterable[T], desc: str, enabled: bool = True) -> Iterator[T]:
    from tqdm import tqdm

    items = list(items)
    yield from tqdm(items, desc=f"nscc: {desc}", disable=not enabled or len(items) < 2, file=sys.stderr, leave=False, unit="batch")
