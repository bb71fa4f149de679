"""Page N of a dense sequence: items numbered 1..total without gaps (per workspace or per
organization) make page N one bounded range Query, newest first, so page N costs what page 1
costs."""
from __future__ import annotations

from typing import Callable


def seq_range(total: int, page: int, size: int) -> tuple[int, int] | None:
    """The (low, high) numbers of page `page` (1-based), newest first; None past the end."""
    high = total - (page - 1) * size
    if high < 1:
        return None
    return max(1, high - size + 1), high


def page_by_seq(index, hash_key: str, seq_attr, total: int, page: int, size: int,
                convert: Callable) -> list:
    bounds = seq_range(total, page, size)
    if bounds is None:
        return []
    return [convert(item) for item in index.query(
        hash_key, seq_attr.between(*bounds), scan_index_forward=False)]
