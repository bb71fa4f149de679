"""Timestamps: ISO-8601 UTC with a `Z`, the only form the API emits."""
from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(now())  # type: ignore[return-value]


def parse(stamp: str) -> datetime:
    """One of our own timestamps (or any ISO-8601 with a zone) back to a moment."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
