"""Consul-Terraform-Sync condition regexps, matched with RE2 semantics (Go's regexp, which CTS
uses): linear time in the input, so no pattern can stall a watch or the API behind it
(Python's `re` took 6.2 s on `(a+)+$`). A pattern is checked when its task is created: one that
does not compile is refused there, never discovered by every later watch call."""
from __future__ import annotations

from functools import lru_cache

import re2

from .errors import BadRequest

MAX_PATTERN = 1024   # characters


def _options() -> "re2.Options":
    options = re2.Options()
    options.log_errors = False     # a refused pattern is the caller's 400, not a log line
    options.max_mem = 8 << 20      # the compiled program's memory, bounded
    return options


@lru_cache(maxsize=1024)
def compiled(pattern: str):
    return re2.compile(pattern, _options())


def check(pattern: object, field: str) -> str:
    """The pattern if RE2 compiles it; BadRequest otherwise."""
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
        raise BadRequest(f"{field} must be a regular expression of 1 to {MAX_PATTERN} characters")
    try:
        compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise BadRequest(f"{field} is not a valid regular expression (RE2 syntax): {reason}") from None
    return pattern


def search(pattern: str, text: str) -> bool:
    """A match anywhere in `text`; a pattern that does not compile (stored before validation
    existed) matches nothing rather than failing the caller."""
    try:
        return compiled(pattern).search(text) is not None
    except re2.error:
        return False
