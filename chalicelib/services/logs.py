"""Plan and apply logs.

While a phase runs, the worker appends chunks to DynamoDB (log-chunks, one item per flush,
at most every `FLUSH_SECONDS`), so a reader sees a printed line within about a second, from
any process. When the phase ends, the whole log is stored in S3 and readers use that.
The read URL carries its credential in the path: go-tfe replaces the query string with
limit/offset and sends no Authorization header. The body is STX + log (+ ETX once the phase
is over), which go-tfe's log reader expects."""
from __future__ import annotations

import threading
import time

from ..aws import blobs
from ..config import settings
from ..storage import keys
from ..storage import logs as store
from . import signing

STX, ETX = "\x02", "\x03"
LOG_PURPOSE = "log-read"
FLUSH_SECONDS = 0.25
MAX_CHUNK = 300_000   # characters; DynamoDB items are capped at 400 KB


def read_url(phase_id: str) -> str:
    s = settings()
    return f"{s.public_url}/_logs/v1/{signing.sign(LOG_PURPOSE, phase_id, s.log_url_ttl)}"


class LogWriter:
    def __init__(self, phase_id: str) -> None:
        self.phase_id = phase_id
        self._pending: list[str] = []
        self._all: list[str] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._last_flush = 0.0

    def write(self, text: str) -> None:
        with self._lock:
            self._pending.append(text)
            self._all.append(text)

    def flush(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_flush < FLUSH_SECONDS:
            return
        with self._lock:
            data, self._pending = "".join(self._pending), []
        self._last_flush = time.monotonic()
        while data:
            piece, data = data[:MAX_CHUNK], data[MAX_CHUNK:]
            self._seq += 1
            store.append(self.phase_id, self._seq, piece)

    def text(self) -> str:
        with self._lock:
            return "".join(self._all)

    def archive(self) -> None:
        """Everything to S3 (the durable copy readers use once the phase is over)."""
        self.flush(force=True)
        body = self.text().encode()
        blobs.put(keys.log(self.phase_id), body, length=len(body), content_type="text/plain")


def read(phase_id: str, *, archived: bool, finished: bool) -> str:
    if archived:
        text = blobs.read(keys.log(phase_id)).decode("utf-8", "replace")
    else:
        text = store.text(phase_id)
    return STX + text + (ETX if finished else "")


def slice_(body: str, offset: int | None, limit: int | None) -> str:
    """`limit` bytes from byte `offset`. The end never splits a UTF-8 character (terraform's
    error boxes use them), so the text a client receives has exactly the bytes it counts and
    its next offset starts on a character boundary."""
    data = body.encode()
    start = min(max(offset or 0, 0), len(data))
    end = len(data) if not limit else min(start + limit, len(data))
    while start < end < len(data) and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[start:end].decode("utf-8", "replace")
