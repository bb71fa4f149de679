"""Extension points between aggregates, so the configuration-version service does not import
the run engine: the runs service subscribes to `cv_uploaded` (auto-queue-runs)."""
from __future__ import annotations

from typing import Callable

_cv_uploaded: list[Callable] = []


def on_cv_uploaded(fn: Callable) -> Callable:
    _cv_uploaded.append(fn)
    return fn


def cv_uploaded(cv) -> None:
    for fn in list(_cv_uploaded):
        fn(cv)
